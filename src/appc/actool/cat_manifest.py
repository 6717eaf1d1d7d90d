"""``actool cat-manifest [--pretty-print] ACI_FILE``: print the manifest of an image archive.

Output matches the reference byte for byte: the manifest exactly as stored plus a newline, or
with ``--pretty-print`` the manifest re-encoded with four-space indentation as Go's
``json.MarshalIndent(im, "", "    ")`` writes it. Only the archive up to the manifest is read.

Divergences: the reference prints the stored bytes before checking them and exits 0 when the
archive has no manifest at all; we print only a manifest that is valid, and report a missing
one as an error.
"""

from __future__ import annotations

import argparse
import sys

from appc.errors import AppcError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pretty-print", action="store_true", help="print with better style")
    parser.add_argument("file", metavar="ACI_FILE", help="the image archive")


def run(args: argparse.Namespace) -> int:
    from appc.aci import read_manifest

    try:
        raw, manifest = read_manifest(args.file)
    except AppcError as err:
        if getattr(args, "debug", False):
            raise
        message = str(err)
        if not message.startswith(args.file):
            message = f"{args.file}: {message}"
        print(f"actool: {message}", file=sys.stderr)
        return 1
    out = manifest.to_json(pretty=True) if args.pretty_print else raw
    sys.stdout.buffer.write(out + b"\n")
    sys.stdout.buffer.flush()
    return 0
