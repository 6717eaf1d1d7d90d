"""``rkt image cat-manifest [--pretty-print=true|false] IMAGE``: print a stored manifest as
rkt does: re-encoded from the parsed manifest, indented with tabs unless told not to."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rkt.cli.image_common import IMAGE_HELP, open_store

if TYPE_CHECKING:
    from rkt.config import Config


def go_bool(text: str) -> bool:
    """A Go boolean flag value (strconv.ParseBool)."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pretty-print",
        type=go_bool,
        nargs="?",
        const=True,
        default=True,
        help="apply indent to format the output (default true)",
    )
    parser.add_argument("image", metavar="IMAGE", help=IMAGE_HELP)


def tab_indent(text: bytes) -> bytes:
    """Go's ``json.MarshalIndent(v, "", "\\t")`` from compact JSON: JSON strings hold no raw
    newlines, so each line's leading spaces are exactly its depth."""
    import msgspec

    lines = msgspec.json.format(text, indent=1).split(b"\n")
    return b"\n".join(b"\t" * (len(ln) - len(ln.lstrip(b" "))) + ln.lstrip(b" ") for ln in lines)


def run(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        record = store.resolve(args.image)
        _raw, manifest = store.manifest(record.id)
    out = manifest.to_json()
    if args.pretty_print:
        out = tab_indent(out)
    sys.stdout.buffer.write(out + b"\n")
    sys.stdout.flush()
    return 0
