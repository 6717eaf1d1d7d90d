"""``rkt image extract [--overwrite] [--rootfs-only] IMAGE OUTPUT_DIR``: one stored image, without
its dependencies, into a new directory (no overlayfs: ``rm -rf`` cleans it up)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rkt.cli.image_common import add_output_arguments, open_store

if TYPE_CHECKING:
    from rkt.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_arguments(parser, "extract")


def run(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        record = store.resolve(args.image)
        store.extract(
            record.id, Path(args.output), rootfs_only=args.rootfs_only, overwrite=args.overwrite
        )
    return 0
