"""``actool patch-manifest``: copy an image archive with its manifest edited or replaced.

As the reference: edits come from flags (see :mod:`appc.actool.patch`) or ``--manifest=FILE``
replaces the manifest whole, and the two cannot be combined; the copy goes to OUTPUT, or over
the input with ``--replace``; gzip unless ``--no-compression``. The patched manifest is checked
against the spec before anything is written, the output appears atomically, and the new image
ID is printed on stdout (beyond the reference).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from appc.errors import AppcError

if TYPE_CHECKING:
    from appc.actool.patch import Patch

_EDITS = (
    ("name", "replace the image name"),
    ("exec", "replace the command line to launch the executable (split on spaces)"),
    ("user", "replace the user"),
    ("group", "replace the group"),
    ("supplementary-groups", "replace the supplementary groups (comma-separated GIDs)"),
    ("capability", "set the capability retain set (comma-separated)"),
    ("revoke-capability", "set the capability remove set (comma-separated)"),
    ("mounts", "add mount points: name,path=/p[,readOnly=true][:name2,...]"),
    ("ports", "add ports: name,protocol=tcp,port=80[,count=1][,socketActivated=false][:...]"),
    ("isolators", "add isolators: resource/cpu,request=50m,limit=100m[:...]"),
    ("seccomp-mode", "enable and configure the seccomp isolator: remove|retain[,errno=EPERM]"),
    ("seccomp-set", "syscalls for the seccomp isolator (comma-separated)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="overwrite the target file")
    parser.add_argument("--no-compression", action="store_true", help="do not gzip the output")
    parser.add_argument("--replace", action="store_true", help="replace the input file")
    parser.add_argument("--manifest", default="", help="replace the image manifest with this file")
    for flag, text in _EDITS:
        parser.add_argument(f"--{flag}", default="", help=text)
    # The issue tracker and rkt's flags call it this; the reference calls it
    # --supplementary-groups. Both are accepted.
    parser.add_argument("--supplementary-gids", dest="supplementary_groups", help=argparse.SUPPRESS)
    parser.add_argument("input", metavar="INPUT_ACI_FILE")
    parser.add_argument("output", metavar="OUTPUT_ACI_FILE", nargs="?", default="")


def _patch_from(args: argparse.Namespace) -> Patch:
    from appc.actool.patch import Patch

    return Patch(
        **{flag.replace("-", "_"): getattr(args, flag.replace("-", "_")) for flag, _ in _EDITS}
    )


def _new_manifest(args: argparse.Namespace) -> bytes:
    from appc.aci import read_manifest
    from appc.actool.patch import Patch, apply
    from appc.schema.image import ImageManifest

    patch = _patch_from(args)
    if args.manifest:
        if patch != Patch():
            raise AppcError("--manifest cannot be combined with other patch options")
        with open(args.manifest, "rb") as file:
            data = file.read()
        try:
            return ImageManifest.from_json(data).to_json()
        except AppcError as err:
            raise AppcError(f"{args.manifest}: {err}") from err
    _, manifest = read_manifest(args.input)
    return apply(manifest, patch).to_json()


def run(args: argparse.Namespace) -> int:
    from appc.aci.copier import copy_with_manifest

    if args.replace == bool(args.output):
        print(
            "actool: give either OUTPUT_ACI_FILE or --replace, not both or neither",
            file=sys.stderr,
        )
        return 1
    output = args.input if args.replace else args.output
    try:
        manifest = _new_manifest(args)
        image = copy_with_manifest(
            args.input,
            output,
            manifest,
            compression="none" if args.no_compression else "gzip",
            overwrite=args.overwrite or args.replace,
        )
    except AppcError as err:
        if args.debug:
            raise
        message = str(err)
        if not message.startswith((args.input, output)):
            message = f"{args.input}: {message}"
        print(f"actool: {message}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"actool: {err.filename or args.input}: {err.strerror or err}", file=sys.stderr)
        return 1
    print(image)
    return 0
