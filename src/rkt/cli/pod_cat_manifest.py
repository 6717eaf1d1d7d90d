"""``rkt cat-manifest``: a pod's manifest, re-encoded (tab-indented unless told otherwise)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rkt.cli.pod_status import uuid_argument
from rkt.errors import PodError
from rkt.pod import info
from rkt.pod.pod import Pod

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

USE = "cat-manifest --uuid-file=FILE | UUID ..."
DESCRIPTION = "UUID is a pod's UUID, or an unambiguous prefix of it."


def add_arguments(flags: FlagSet) -> None:
    flags.add_bool("pretty-print", True, "indent the output with tabs")
    flags.add_string("uuid-file", "", "read the pod's UUID from this file", metavar="FILE")
    flags.optional_arg("uuid", "UUID")


def indent(compact: bytes) -> bytes:
    """Go's ``json.Indent(dst, src, "", "\\t")`` over compact JSON: rkt pretty-prints with
    tabs (``MarshalIndent``), while our encoder's pretty form follows actool's spaces."""
    out = bytearray()
    depth, in_string, escaped = 0, False, False
    for i, byte in enumerate(compact):
        ch = chr(byte)
        if in_string:
            out.append(byte)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
            out.append(byte)
        elif ch in "[{":
            out.append(byte)
            if i + 1 < len(compact) and chr(compact[i + 1]) in "]}":
                continue  # Go keeps empty arrays and objects on one line
            depth += 1
            out += b"\n" + b"\t" * depth
        elif ch in "]}":
            if out and chr(out[-1]) not in "[{":
                depth -= 1
                out += b"\n" + b"\t" * depth
            out.append(byte)
        elif ch == ",":
            out += b",\n" + b"\t" * depth
        elif ch == ":":
            out += b": "
        else:
            out.append(byte)
    return bytes(out)


def run(args: Namespace, config: Config) -> int:
    from appc.errors import AppcError
    from appc.schema.pod import PodManifest

    with Pod.load(config.pods, uuid_argument(args, "cat-manifest")) as pod:
        raw = info.manifest_bytes(pod)
    try:
        manifest = PodManifest.from_json(raw)
    except AppcError as err:
        raise PodError(f"invalid pod manifest in pod {pod.uuid}: {err}") from err
    compact = manifest.to_json()
    sys.stdout.buffer.write((indent(compact) if args.pretty_print else compact) + b"\n")
    return 0
