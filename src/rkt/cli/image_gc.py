"""``rkt image gc [--grace-period=24h0m0s]``: remove images not used for the grace period, and
whatever files crashed processes left behind (orphan blobs and trees, temporary files)."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TYPE_CHECKING

from rkt.cli.duration import parse_duration
from rkt.cli.image_common import open_store, quote, warn

if TYPE_CHECKING:
    from rkt.config import Config

VERB = "image gc"


def go_duration(text: str) -> timedelta:
    """``--grace-period`` as a timedelta (Go's duration syntax, :mod:`rkt.cli.duration`)."""
    return timedelta(seconds=parse_duration(text))


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
