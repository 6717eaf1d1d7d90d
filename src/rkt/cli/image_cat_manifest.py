"""``rkt image cat-manifest [--pretty-print=true|false] IMAGE``: print a stored manifest as
rkt does: re-encoded from the parsed manifest, indented with tabs unless told not to."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rkt.cli.image_common import IMAGE_HELP, open_store

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

USE = "cat-manifest IMAGE"
DESCRIPTION = IMAGE_HELP


def add_arguments(flags: FlagSet) -> None:
    flags.add_bool("pretty-print", True, "indent the output with tabs")
    flags.arg("image", "IMAGE")


def tab_indent(text: bytes) -> bytes:
    """Go's ``json.MarshalIndent(v, "", "\\t")`` from compact JSON: JSON strings hold no raw
    newlines, so each line's leading spaces are exactly its depth."""
    import msgspec

    lines = msgspec.json.format(text, indent=1).split(b"\n")
    return b"\n".join(b"\t" * (len(ln) - len(ln.lstrip(b" "))) + ln.lstrip(b" ") for ln in lines)


def run(args: Namespace, config: Config) -> int:
    with open_store(config) as store:
        record = store.resolve(args.image)
        _raw, manifest = store.manifest(record.id)
    out = manifest.to_json()
    if args.pretty_print:
        out = tab_indent(out)
    sys.stdout.buffer.write(out + b"\n")
    sys.stdout.flush()
    return 0
