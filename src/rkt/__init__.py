"""Rocket: a daemonless container runtime for App Container images, after CoreOS rkt.

The packages and the direction of their imports: docs/architecture.md.
"""

__version__ = "0.1.0"


def without_typing_extensions() -> None:
    """msgspec imports typing_extensions whenever it can, and with it inspect and ast: 7-17 ms
    of every command, for types rkt never uses. grpcio (the ``api`` extra, for
    ``rkt api-service`` alone) installs it; every other process of rkt (each command, the
    pod's end) runs as if it were not there. Call before anything imports msgspec."""
    import sys

    sys.modules.setdefault("typing_extensions", None)  # type: ignore[arg-type]
