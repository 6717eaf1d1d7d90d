"""``rkt version``."""

from __future__ import annotations

import argparse
import platform
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rkt.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no flags of its own


def version_text() -> str:
    from appc import SPEC_VERSION
    from appc.schema.labels import host_os_arch
    from rkt import __version__

    os_name, arch = host_os_arch()
    return (
        f"rkt Version: {__version__}\n"
        f"appc Version: {SPEC_VERSION}\n"
        f"Python Version: {platform.python_version()}\n"
        f"OS/Arch: {os_name}/{arch}\n"
    )


def run(args: argparse.Namespace, config: Config) -> int:
    del args, config
    sys.stdout.write(version_text())
    return 0
