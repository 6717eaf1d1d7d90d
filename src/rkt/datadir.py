"""Where things live under the data dir (``--dir``, default /var/lib/rkt); rkt's layout.

This is the one module that knows the paths; everything else asks it.

    cas/blob/sha512/<2 hex>/<image id>   uncompressed ACIs, content-addressed
    cas/tree/<image id>/                 rendered trees: rootfs/ (+ a "hash" file)
    cas/db/index.sqlite                  the image index (images, remotes, trees)
    locks/                               lock files (store, per image, per tree)
    tmp/                                 downloads and imports in progress
    pods/<state>/<uuid>/                 pods, for the runtime half
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

DEFAULT_DATA_DIR = Path("/var/lib/rkt")


def make_dir(path: Path, mode: int) -> None:
    """Make ``path`` with ``mode``, setgid bit included, whatever the umask; an existing one is
    left as it is (its owner, group and mode are the administrator's)."""
    try:
        os.mkdir(path, mode & 0o777)
    except FileExistsError:
        return
    # mkdir(2) applies the umask and ignores the setgid bit (the new directory inherits its
    # parent's); as rkt's setup did, the directory gets its mode, and files made in it then
    # belong to the data dir's group.
    os.chmod(path, mode)


class DataDir(msgspec.Struct, frozen=True):
    root: Path

    @property
    def cas(self) -> Path:
        return self.root / "cas"

    @property
    def blobs(self) -> Path:
        return self.cas / "blob" / "sha512"

    def blob(self, image_id: str) -> Path:
        """The uncompressed ACI of a full image ID (``sha512-<128 hex>``)."""
        digest = image_id.removeprefix("sha512-")
        return self.blobs / digest[:2] / image_id

    @property
    def trees(self) -> Path:
        return self.cas / "tree"

    def tree(self, image_id: str) -> Path:
        return self.trees / image_id

    @property
    def db(self) -> Path:
        return self.cas / "db" / "index.sqlite"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def image_locks(self) -> Path:
        """Images' locks: in ``cas/``, which the data dir's group may write, as rkt had them."""
        return self.cas / "imagelocks"

    @property
    def tmp(self) -> Path:
        """The store's temporary files (imports, renders, downloads): in ``cas/``, so that a
        member of the data dir's group (rkt's packaging: "rkt") can fetch, as in rkt."""
        return self.cas / "tmp"

    @property
    def pods(self) -> Path:
        return self.root / "pods"

    def create(self) -> None:
        """Create the directories that are missing, with the modes rkt's packaging gave them
        (dist/scripts/setup-data-dir.sh): nothing is traversable by other users, since images
        may carry setuid files and device nodes (docs/security.md 11, moby CVE-2021-41091), while
        the group of an existing data dir (rkt's packaging: "rkt") keeps what it was given.

        An existing directory is never changed: its owner, group and mode are the
        administrator's (a data dir set up as rkt's packages did, root:rkt 2750, stays so).
        """
        if not self.root.exists():
            self.root.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        for path, mode in (
            (self.root, 0o2750),
            (self.cas, 0o2770),
            (self.blobs.parent, 0o2770),
            (self.blobs, 0o2770),
            (self.trees, 0o2700),
            (self.db.parent, 0o2770),
            (self.locks, 0o2750),
            (self.root / "tmp", 0o2750),
            (self.tmp, 0o2770),
            (self.image_locks, 0o2770),
        ):
            make_dir(path, mode)
