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
import stat
from pathlib import Path

import msgspec

DEFAULT_DATA_DIR = Path("/var/lib/rkt")


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
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def pods(self) -> Path:
        return self.root / "pods"

    def create(self) -> None:
        """Create the directories, not traversable by other users: images may carry setuid
        files and device nodes (SECURITY.md 11, moby CVE-2021-41091). The group's bits are
        left as they are: dist/tmpfiles.d/rkt.conf gives the data dir to group ``rkt``
        (``2750``), as rkt's packages did, so that its members may read it."""
        for path in (
            self.root,
            self.cas,
            self.blobs,
            self.trees,
            self.db.parent,
            self.locks,
            self.tmp,
        ):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = stat.S_IMODE(os.stat(self.root).st_mode)
        if mode & 0o007:
            os.chmod(self.root, mode & ~0o007)
