"""``rkt image rm IMAGE...``: remove images by ID (prefix) or name, with rkt's messages.

Each removed image prints ``successfully removed aci for image: "<id>"`` on stdout, then the
count goes to stderr. Divergence: rkt 1.30 exits 0 when an argument names no image (it only
prints the error); we exit 254 whenever any argument could not be removed, so scripts notice.
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from typing import TYPE_CHECKING

from rkt.cli.image_common import open_store, quote, warn

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config
    from rkt.store import Store

VERB = "image rm"
USE = "rm IMAGE..."
DESCRIPTION = """\
Removes the images named (by ID or name) from the store at once, where image gc removes the
ones unused for a while. An image a pod still uses is not removed."""


def add_arguments(flags: FlagSet) -> None:
    flags.rest("images", "IMAGE")


def remove_images(
    store: Store, image_ids: list[str], verb: str, in_use: Collection[str] = ()
) -> int:
    """Remove resolved images, printing as rkt does; the number that failed. Images in
    ``in_use`` (their trees are under a pod's app roots) are refused."""
    from rkt.errors import StoreError

    done = failed = 0
    for image_id in image_ids:
        try:
            if image_id in in_use:
                raise StoreError("it is used by a pod", hint="remove the pod first (rkt rm)")
            store.remove(image_id)
        except StoreError as err:
            warn(verb, f"error removing aci for image {quote(image_id)}: {err}")
            failed += 1
            continue
        sys.stdout.write(f"successfully removed aci for image: {quote(image_id)}\n")
        done += 1
    sys.stdout.flush()
    if done:
        warn(verb, f"{done} image(s) successfully removed")
    if failed:
        warn(verb, f"{failed} image(s) cannot be removed")
    return failed


def run(args: Namespace, config: Config) -> int:
    from rkt.errors import ImageNotFound

    if not args.images:
        warn(VERB, "must provide at least one image ID")
        return 254
    unresolved = 0
    with open_store(config) as store:
        image_ids: list[str] = []
        for ref in args.images:
            try:
                image_id = store.resolve(ref).id
            except ImageNotFound as err:
                warn(VERB, str(err))
                unresolved += 1
                continue
            if image_id not in image_ids:
                image_ids.append(image_id)
        from rkt.pod.images import images_in_use

        in_use = images_in_use(config.pods)
        failed = remove_images(store, image_ids, VERB, in_use)
    if failed or unresolved:
        warn(VERB, "error(s) found while removing images")
        return 254
    return 0
