"""The image store: content-addressed ACIs, a sqlite index, rendered trees (docs/image-half.md).

How the parts fit:

- :mod:`~rkt.store.store` is the :class:`Store` facade the CLI, fetcher and stage0 use.
- :mod:`~rkt.store.index` owns the sqlite index (WAL, busy timeout and retries, numbered
  migrations); :mod:`~rkt.store.records` the frozen :class:`ImageRecord` and :class:`Remote`.
- :mod:`~rkt.store.blobs` stages an import in ``tmp/`` (one pass: decompress, validate, hash,
  write, fsync) for the store to rename into ``cas/blob``; temporary entries are flock-ed by
  their writer so leftovers of killed processes can be told apart and cleaned.
- :mod:`~rkt.store.lock` is flock on files in ``locks/``: one per image (import, remove, gc)
  and one per tree (render), always taken in that order.
- :mod:`~rkt.store.extract` writes archive members into a directory that they cannot escape;
  :mod:`~rkt.store.render` orders an image's dependency layers, applies ``pathWhitelist`` and
  drives the extractor for the tree store and for ``rkt image extract``/``render``;
  :mod:`~rkt.store.tree` walks trees without following links (hash, copy, removal).
- :mod:`~rkt.store.consistency` checks (verify) and repairs (gc) agreement between rows and
  files: the row is always the commit point, so after a crash only files without rows remain.

Everything raises :class:`rkt.errors.StoreError` (or :class:`~rkt.errors.ImageNotFound`,
:class:`~rkt.errors.AmbiguousImage`) with a one-line message naming the path or image.
Nothing here imports ``appc.aci`` until an archive is actually read, so listing stays fast.
"""

from __future__ import annotations

from rkt.store.records import ImageRecord, Remote
from rkt.store.store import Store

__all__ = ["ImageRecord", "Remote", "Store"]
