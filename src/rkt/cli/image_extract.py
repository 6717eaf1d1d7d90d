"""``rkt image extract [--overwrite] [--rootfs-only] IMAGE OUTPUT_DIR``: one stored image, without
its dependencies, into a new directory (no overlayfs: ``rm -rf`` cleans it up)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rkt.cli.image_common import IMAGE_HELP, add_output_arguments, open_store

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

USE = "extract IMAGE OUTPUT_DIR"
DESCRIPTION = f"""{IMAGE_HELP}

Copies the image into OUTPUT_DIR without its dependencies. Nothing is mounted: rm -rf removes
the copy."""


def add_arguments(flags: FlagSet) -> None:
    add_output_arguments(flags, "extract")


def run(args: Namespace, config: Config) -> int:
    with open_store(config) as store:
        record = store.resolve(args.image)
        store.extract(
            record.id, Path(args.output), rootfs_only=args.rootfs_only, overwrite=args.overwrite
        )
    return 0
