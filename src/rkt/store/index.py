"""The sqlite index of the store: images, HTTP cache entries (remotes) and rendered trees.

Many rkt processes share one index without a daemon, so:

- WAL journal: readers never block the writer nor the writer the readers.
- ``busy_timeout`` makes sqlite wait for a lock instead of failing at once, and every write
  transaction starts with ``BEGIN IMMEDIATE`` so it takes the write lock up front. (A deferred
  transaction that reads and then writes can get SQLITE_BUSY without the busy handler ever
  running, to avoid a deadlock; see https://sqlite.org/lang_transaction.html.)
- What still comes back as "database is locked" or "busy" (WAL recovery, setting the journal
  mode while another process opens the file) is retried with backoff for up to a minute, so no
  caller ever sees it.
- The schema is a list of numbered migrations; ``schema_version`` says how many ran. They run
  inside one write transaction that re-reads the version, so two processes opening an old
  index at once migrate it once.

Times are integer nanoseconds since the epoch, as rkt's JSON reports them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rkt.errors import StoreError
from rkt.store.lock import share_with_group

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
RETRY_FOR_SECONDS = 60.0

#: Migration N (1-based) brings the schema from version N-1 to N. Never edit a shipped one.
MIGRATIONS: tuple[str, ...] = (
    # 1: images with their manifest (so listing and matching never read blobs), remotes.
    """
    CREATE TABLE images (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        labels TEXT NOT NULL,
        import_time INTEGER NOT NULL,
        last_used INTEGER NOT NULL,
        size INTEGER NOT NULL,
        manifest BLOB NOT NULL
    );
    CREATE INDEX images_by_name ON images (name, import_time);
    CREATE TABLE remotes (
        aci_url TEXT PRIMARY KEY,
        sig_url TEXT NOT NULL,
        etag TEXT NOT NULL,
        max_age INTEGER NOT NULL,
        download_time INTEGER NOT NULL,
        image_id TEXT NOT NULL
    );
    """,
    # 2: rendered trees, with the hash verify() checks and the size image list adds.
    """
    CREATE TABLE trees (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL,
        size INTEGER NOT NULL,
        render_time INTEGER NOT NULL,
        dependencies TEXT NOT NULL
    );
    """,
)


def _is_busy(err: sqlite3.OperationalError) -> bool:
    text = str(err).lower()
    return "locked" in text or "busy" in text


def _reason(where: Path, err: sqlite3.Error) -> str:
    """sqlite's words, and the cause it does not name: a full filesystem makes it say "disk
    I/O error" when the WAL or its index cannot grow."""
    import os

    try:
        st = os.statvfs(where.parent)
    except OSError:
        return str(err)
    if st.f_bavail == 0 or st.f_favail == 0:
        return f"No space left on device ({err})"
    return str(err)


def retrying(where: Path, action: Callable[[], T]) -> T:
    """Run ``action`` again while sqlite reports a lock held by another process."""
    deadline = time.monotonic() + RETRY_FOR_SECONDS
    delay = 0.005
    while True:
        try:
            return action()
        except sqlite3.OperationalError as err:
            if not _is_busy(err) or time.monotonic() > deadline:
                raise StoreError(
                    f"cannot use the image index {where}: {_reason(where, err)}"
                ) from err
        except sqlite3.DatabaseError as err:
            raise StoreError(f"cannot use the image index {where}: {_reason(where, err)}") from err
        import random  # only when the index is busy

        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.2)


def _share_with_group(path: Path) -> None:
    """The index and its WAL files readable and writable by the data dir's group, whatever the
    umask of whoever made them; SQLite gives the files it creates the database file's mode."""
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
    for name, create in (
        (str(path), os.O_RDWR | os.O_CREAT),
        (f"{path}-wal", 0),
        (f"{path}-shm", 0),
    ):
        try:
            fd = os.open(name, flags | create, 0o660)
        except OSError:
            continue  # not there, or not ours to make: sqlite says what is wrong, if anything
        try:
            share_with_group(fd)
        finally:
            os.close(fd)


class Index:
    """One connection to the index; ``read`` and ``write`` are the only ways in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        _share_with_group(path)
        try:
            self._db = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as err:
            raise StoreError(f"cannot open the image index {path}: {err}") from err
        retrying(path, self._setup)

    def _setup(self) -> None:
        db = self._db
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # The journal mode is stored in the file; only its first opener switches it.
        if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            db.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed row survives power loss, like the fsynced blob it points to.
        db.execute("PRAGMA synchronous = FULL")
        if self._version() < len(MIGRATIONS):
            self.write(self._migrate)

    def _version(self) -> int:
        db = self._db
        found = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if not found:
            return 0
        row = db.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = self._version()  # again, inside the write lock
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the image index {self.path} has schema version {version}, newer than this rkt "
                f"knows ({len(MIGRATIONS)})",
                hint="use a newer rkt",
            )
        if version == 0:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version VALUES (0)")
        for number in range(version + 1, len(MIGRATIONS) + 1):
            for statement in MIGRATIONS[number - 1].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("UPDATE schema_version SET version = ?", (number,))

    @property
    def version(self) -> int:
        return retrying(self.path, self._version)

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return retrying(self.path, lambda: self._db.execute(sql, params).fetchall())

    def write(self, change: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``change`` in one write transaction, committed when it returns."""

        def attempt() -> T:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                result = change(db)
                db.execute("COMMIT")  # may itself be busy: then roll back and retry
            except BaseException:
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise
            return result

        return retrying(self.path, attempt)

    def close(self) -> None:
        self._db.close()
