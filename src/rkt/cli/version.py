"""``rkt version``: rkt's five lines, with the version of rkt whose command line this is.

Integrations read the first two lines (Nomad's rkt driver matches ``rkt [vV]ersion[:]? X`` and
``appc [vV]ersion[:]? X`` and requires rkt >= 1.27.0), so they name rkt 1.30.0, whose flags,
formats and exit statuses Rocket keeps; Rocket's own version has the third line, where rkt put
its Go version. The features line says what rkt's build-time features would be here: no TPM
logging, no systemd journal integration.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

USE = "version"
DESCRIPTION = "Print the version of rkt, of the appc spec, of Rocket and the build's features."
FEATURES = "-TPM -SDJOURNAL"


def add_arguments(flags: FlagSet) -> None:
    del flags  # no flags of its own


def version_text() -> str:
    from appc import SPEC_VERSION
    from rkt import __version__
    from rkt.cli.commands import RKT_VERSION

    python = ".".join(str(part) for part in sys.version_info[:3])
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    return (
        f"rkt Version: {RKT_VERSION}\n"
        f"appc Version: {SPEC_VERSION}\n"
        f"Rocket Version: {__version__} (Python {python})\n"
        f"OS/Arch: {sys.platform}/{machine}\n"
        f"Features: {FEATURES}\n"
    )


def run(args: Namespace, config: Config) -> int:
    del args, config
    sys.stdout.write(version_text())
    return 0
