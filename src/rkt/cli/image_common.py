"""What the ``rkt image`` verbs share: opening the store, naming images, rkt's quoting."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from rkt.config import Config
    from rkt.store import Store


def open_store(config: Config) -> Store:
    from rkt.datadir import DataDir
    from rkt.store import Store

    return Store(DataDir(config.data_dir))


def quote(text: str) -> str:
    """Go's ``%q`` for the strings printed here (image IDs and names are ASCII)."""
    return json.dumps(text)


def warn(verb: str, message: str) -> None:
    """A line on stderr prefixed like the CLI's own error lines."""
    sys.stderr.write(f"{verb}: {message}\n")


IMAGE_HELP = "an image ID (sha512-… with at least 2 digits) or an image name[:version]"


def add_output_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    """``[--rootfs-only] [--overwrite] IMAGE OUTPUT_DIR``, of image extract and render."""
    parser.add_argument("--rootfs-only", action="store_true", help=f"{verb} rootfs only")
    parser.add_argument("--overwrite", action="store_true", help="overwrite output directory")
    parser.add_argument("image", metavar="IMAGE", help=IMAGE_HELP)
    parser.add_argument("output", metavar="OUTPUT_DIR", help="the directory to create")
