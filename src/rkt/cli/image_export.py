"""``rkt image export [--overwrite] IMAGE OUTPUT_ACI_FILE``: the stored ACI, uncompressed."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rkt.cli.image_common import IMAGE_HELP, open_store

if TYPE_CHECKING:
    from rkt.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="overwrite output ACI")
    parser.add_argument("image", metavar="IMAGE", help=IMAGE_HELP)
    parser.add_argument("output", metavar="OUTPUT_ACI_FILE", help="where to write the ACI")


def run(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        record = store.resolve(args.image)
        store.export(record.id, Path(args.output), overwrite=args.overwrite)
    return 0
