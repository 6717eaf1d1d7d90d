"""``actool image-id ACI_FILE...``: print the image ID of each image archive, one per line.

Not in the reference. Each archive is validated in the same pass that hashes it, so an ID is
printed only for a valid image; an invalid one is reported on stderr (one line, naming it), the
others are still processed, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys

from appc.errors import AppcError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="ACI_FILE", help="image archives")


def run(args: argparse.Namespace) -> int:
    from appc.aci import validate_archive

    status = 0
    for path in args.files:
        try:
            image = validate_archive(path).image_id
        except AppcError as err:
            if getattr(args, "debug", False):
                raise
            message = str(err)
            if not message.startswith(path):
                message = f"{path}: {message}"
            print(f"actool: {message}", file=sys.stderr)
            status = 1
            continue
        print(image, flush=True)
    return status
