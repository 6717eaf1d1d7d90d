"""``rkt image render [--overwrite] [--rootfs-only] IMAGE OUTPUT_DIR``: a copy of the image as an
app would see it, rendered with all its dependencies (ace.md "Filesystem Setup")."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rkt.cli.image_common import IMAGE_HELP, add_output_arguments, open_store

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

USE = "render IMAGE OUTPUT_DIR"
DESCRIPTION = f"""{IMAGE_HELP}

Copies the image into OUTPUT_DIR as an app sees it in a pod: with all its dependencies. Nothing is
mounted: rm -rf removes the copy."""


def add_arguments(flags: FlagSet) -> None:
    add_output_arguments(flags, "render")


def run(args: Namespace, config: Config) -> int:
    with open_store(config) as store:
        record = store.resolve(args.image)
        store.render_to(
            record.id, Path(args.output), rootfs_only=args.rootfs_only, overwrite=args.overwrite
        )
    return 0
