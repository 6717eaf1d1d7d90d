"""What the ``rkt image`` verbs share: opening the store, naming images, rkt's quoting."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet
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


IMAGE_HELP = "IMAGE is an image ID (sha512- and at least 2 hex digits) or an image name[:version]."


def add_output_arguments(flags: FlagSet, verb: str) -> None:
    """``[--rootfs-only] [--overwrite] IMAGE OUTPUT_DIR``, of image extract and render."""
    flags.add_bool("rootfs-only", False, f"{verb} the rootfs only, without the manifest")
    flags.add_bool("overwrite", False, "replace the output directory if it exists")
    flags.arg("image", "IMAGE")
    flags.arg("output", "OUTPUT_DIR")
