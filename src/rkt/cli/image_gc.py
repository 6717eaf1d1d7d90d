"""``rkt image gc [--grace-period=24h0m0s]``: remove images not used for the grace period, and
whatever files crashed processes left behind (orphan blobs and trees, temporary files)."""

from __future__ import annotations

import argparse
import re
from datetime import timedelta
from typing import TYPE_CHECKING

from rkt.cli.image_common import open_store, quote, warn

if TYPE_CHECKING:
    from rkt.config import Config

VERB = "image gc"
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_duration(text: str) -> timedelta:
    """A duration as Go's ``time.ParseDuration`` reads it: ``24h``, ``1h30m``, ``0``, ``-5m``."""
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    if body == "0":
        return timedelta(0)
    seconds = 0.0
    pos = 0
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None:
            raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
    return timedelta(seconds=sign * seconds)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--grace-period",
        type=go_duration,
        default=timedelta(hours=24),
        help="duration to wait since an image was last used before removing it (default 24h0m0s)",
    )


def run(args: argparse.Namespace, config: Config) -> int:
    import sys

    from rkt.pod.images import images_in_use

    with open_store(config) as store:
        removed = store.gc(args.grace_period, keep=images_in_use(config.data_dir / "pods"))
    for image_id in removed:
        sys.stdout.write(f"successfully removed aci for image: {quote(image_id)}\n")
    sys.stdout.flush()
    if removed:
        warn(VERB, f"{len(removed)} image(s) successfully removed")
    return 0
