"""``actool validate``: check image archives, image layouts and manifests against the spec.

As the reference, the kind of each file is found by looking at it: a directory is an image
layout, a file that starts like a tar archive or a compressed stream is an image archive, and
anything else is read as a JSON manifest whose ``acKind`` says which. Invalid files are each
reported on one line and make the exit status 1; with ``--debug`` valid ones are reported too.
"""

from __future__ import annotations

import argparse
import os
import sys

from appc.errors import AppcError

TYPES = ("appimage", "layout", "manifest")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--type",
        choices=TYPES,
        default="",
        help="type of file to validate; detected when unset",
    )
    parser.add_argument("files", nargs="*", metavar="FILE")


def _say(path: str, message: str) -> None:
    print(f"{path}: {message}", file=sys.stderr)


def detect(path: str) -> str:
    """``layout``, ``appimage`` or ``manifest`` by the file's kind and first bytes."""
    from appc.aci import compression

    if os.path.isdir(path):
        return "layout"
    with open(path, "rb") as file:
        head = file.read(512)
    if compression.detect(head) is not compression.Compression.NONE or _looks_like_tar(head):
        return "appimage"
    return "manifest"


def _looks_like_tar(head: bytes) -> bool:
    # POSIX and GNU tar headers carry "ustar" at offset 257.
    return len(head) >= 262 and head[257:262] == b"ustar"


def validate_one(path: str, kind: str, debug: bool) -> bool:
    """Validate one file; report it; True when it is valid."""
    if kind == "layout":
        from appc.aci import validate_layout

        validate_layout(path)
        message = "valid image layout"
    elif kind == "appimage":
        from appc.aci import validate_archive

        validate_archive(path)
        message = "valid app container image"
    else:
        from appc.schema.image import ImageManifest
        from appc.schema.kind import parse_manifest

        with open(path, "rb") as file:
            data = file.read()
        manifest = parse_manifest(data)
        message = (
            f"valid {'ImageManifest' if isinstance(manifest, ImageManifest) else 'PodManifest'}"
        )
    if debug:
        _say(path, message)
    return True


def run(args: argparse.Namespace) -> int:
    if not args.files:
        print("must pass one or more files", file=sys.stderr)
        return 1
    status = 0
    for path in args.files:
        try:
            if not os.path.exists(path):
                _say(path, "unable to access: no such file or directory")
                return 1
            kind = args.type or detect(path)
            if os.path.isdir(path) and kind != "layout":
                _say(path, "is a directory (wrong --type?)")
                return 1
            validate_one(path, kind, args.debug)
        except AppcError as err:
            _say(path, f"invalid: {err}")
            status = 1
        except OSError as err:
            _say(path, f"unable to read: {err.strerror or err}")
            status = 1
    return status
