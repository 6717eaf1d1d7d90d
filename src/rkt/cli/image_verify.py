"""``rkt image verify [IMAGE...]``.

With images, as rkt 1.30: check each one's rendered tree against the hash stored when it was
rendered, and render it again when it does not match. Without arguments (beyond rkt): check the
whole store and repair it with :meth:`Store.repair` (blob hashes, blobs and trees without rows,
rows without blobs, modified trees: damaged images removed, modified trees rendered again,
except under pods that use them), print each problem with what was done, and exit 254 if there
was any; a second run then finds nothing.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rkt.cli.image_common import open_store, quote, warn

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config
    from rkt.store import Store

VERB = "image verify"


USE = "verify IMAGE..."
DESCRIPTION = """\
Checks each image's rendered tree against the hash taken when it was rendered, and renders it
again when they differ: for a store a damaged disk may have changed. Without images, checks
the whole store: blob hashes, and files or rows the others lack."""


def add_arguments(flags: FlagSet) -> None:
    flags.rest("images", "IMAGE")


def _verify_image(store: Store, ref: str) -> int:
    from rkt.store.lock import locked
    from rkt.store.tree import remove_tree, tree_hash

    image_id = store.resolve(ref).id
    rows = store.index.read("SELECT hash FROM trees WHERE id = ?", (image_id,))
    rootfs = store.datadir.tree(image_id) / "rootfs"
    if not rows:
        sys.stdout.write(f"image {quote(ref)} not rendered; no verification needed\n")
        return 0
    try:
        actual = tree_hash(rootfs)[0]
    except OSError as err:
        actual = f"unreadable ({err.strerror or err})"
    if actual == rows[0][0]:
        sys.stdout.write(
            f"successfully verified checksum for image: {quote(ref)} ({quote(image_id)})\n"
        )
        return 0
    sys.stdout.write(
        f"tree cache verification failed for image {ref}: wrong tree hash {actual}, "
        f"expected: {rows[0][0]};  rebuilding...\n"
    )
    with locked(store.datadir.locks / f"tree-{image_id}"):
        store.index.write(lambda db: db.execute("DELETE FROM trees WHERE id = ?", (image_id,)))
        remove_tree(store.datadir.tree(image_id))
    store.render(image_id)
    return 0


def run(args: Namespace, config: Config) -> int:
    with open_store(config) as store:
        if args.images:
            for ref in args.images:
                _verify_image(store, ref)
            return 0
        from rkt.pod.images import images_in_use

        problems = store.repair(keep=images_in_use(config.pods))
    for problem in problems:
        sys.stdout.write(problem + "\n")
    sys.stdout.flush()
    if problems:
        warn(VERB, f"{len(problems)} problem(s) found in the store")
        return 254
    return 0
