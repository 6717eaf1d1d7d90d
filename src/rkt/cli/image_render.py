"""``rkt image render [--overwrite] [--rootfs-only] IMAGE OUTPUT_DIR``: a copy of the image as an
app would see it, rendered with all its dependencies (ace.md "Filesystem Setup")."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rkt.cli.image_common import add_output_arguments, open_store

if TYPE_CHECKING:
    from rkt.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_arguments(parser, "render")


def run(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        record = store.resolve(args.image)
        store.render_to(
            record.id, Path(args.output), rootfs_only=args.rootfs_only, overwrite=args.overwrite
        )
    return 0
