"""``actool build``: build an image archive from an image layout directory.

As the reference: ``[--overwrite] [--no-compression] [--owner-root] DIRECTORY OUTPUT_FILE``,
gzip by default, and the output name must end in ``.aci`` (aci.md: "Image archives MUST be named
with the suffix .aci"). Beyond the reference: ``--compression=none|gzip|bzip2|xz``, the manifest
is the first member (so readers stop early), the output appears atomically, and the image ID of
the result is printed on stdout.
"""

from __future__ import annotations

import argparse
import os
import sys

from appc.errors import AppcError

ACI_EXTENSION = ".aci"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--overwrite", action="store_true", help="overwrite the target file if it already exists"
    )
    parser.add_argument(
        "--owner-root", action="store_true", help="force ownership to root:root on all files"
    )
    compression = parser.add_mutually_exclusive_group()
    # A plain boolean, as in the reference, so Go's "--no-compression=true" spelling works.
    compression.add_argument(
        "--no-compression",
        action="store_true",
        help="do not compress the produced ACI (same as --compression=none)",
    )
    compression.add_argument(
        "--compression",
        choices=("none", "gzip", "bzip2", "xz"),
        default="gzip",
        help="how to compress the produced ACI (default: gzip)",
    )
    parser.add_argument("directory", metavar="DIRECTORY", help="the image layout to build from")
    parser.add_argument("output", metavar="OUTPUT_FILE", help="the ACI to write")


def run(args: argparse.Namespace) -> int:
    from appc.aci import build

    extension = os.path.splitext(args.output)[1]
    if extension != ACI_EXTENSION:
        print(
            f"actool: {args.output}: extension must be {ACI_EXTENSION} (given {extension!r})",
            file=sys.stderr,
        )
        return 1
    try:
        image = build(
            args.directory,
            args.output,
            compression="none" if args.no_compression else args.compression,
            overwrite=args.overwrite,
            owner_root=args.owner_root,
        )
    except AppcError as err:
        if getattr(args, "debug", False):
            raise
        # Layout and output errors name their path already; manifest errors name only the
        # JSON path, so say which layout they are about.
        message = str(err)
        if not message.startswith((args.directory, args.output)):
            message = f"{args.directory}: {message}"
        print(f"actool: {message}", file=sys.stderr)
        return 1
    print(image)
    return 0
