"""``rkt image export [--overwrite] IMAGE OUTPUT_ACI_FILE``: the stored ACI, uncompressed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rkt.cli.image_common import IMAGE_HELP, open_store

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

USE = "export IMAGE OUTPUT_ACI_FILE"
DESCRIPTION = f"""{IMAGE_HELP}

The image must be in the store (rkt fetch); the ACI written is the stored one, uncompressed."""


def add_arguments(flags: FlagSet) -> None:
    flags.add_bool("overwrite", False, "replace the output file if it exists")
    flags.arg("image", "IMAGE")
    flags.arg("output", "OUTPUT_ACI_FILE")


def run(args: Namespace, config: Config) -> int:
    with open_store(config) as store:
        record = store.resolve(args.image)
        store.export(record.id, Path(args.output), overwrite=args.overwrite)
    return 0
