"""Entry point of ``rkt``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """Usage:
  rkt [command]

Available Commands:
  version\tPrint the version and exit

Flags:
  --version\tPrint the version and exit
"""


def version_text() -> str:
    import platform

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


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["version"], ["--version"]):
        sys.stdout.write(version_text())
        return 0
    if not args or args[0] in ("help", "--help", "-h"):
        sys.stdout.write(USAGE)
        return 0
    sys.stderr.write(f"rkt: unknown command \"{args[0]}\"\nRun 'rkt help' for usage.\n")
    # rkt exits 254 for its own failures, so that an app's status can pass through.
    return 254


if __name__ == "__main__":
    sys.exit(main())
