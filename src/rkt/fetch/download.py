"""Downloading one URL into a temporary file in the data dir's ``tmp/``, resuming and caching.

:class:`PartialDownload` is the file: one per URL in ``tmp/`` (mode 0600, in a 0700
directory), locked with ``flock`` while in use so that ``rkt.store``'s clean-up of leftovers
leaves it alone, removed once the download was used, and kept when a transfer broke off so
that the next run can resume it, as rkt did (``rkt gc`` removes abandoned ones).

:func:`download` fills it, as rkt's resumable session did:

- with the ``ETag`` of the last download of the URL it sends ``If-None-Match``; a ``304``
  means the stored image is current and no body is transferred;
- when the connection breaks in the middle of the body, it asks again with
  ``Range: bytes=<have>-`` and ``If-Range: <validator>`` (RFC 9110 13.1.5), so the server
  sends the rest only if the resource did not change meanwhile and the whole thing otherwise;
  a ``Content-Range`` that does not start where we stopped, or a ``416``, starts over;
- the result carries the ``ETag`` and Cache-Control ``max-age`` to remember for the URL.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TextIO

import msgspec

from rkt.atomicfile import write_atomically
from rkt.errors import FetchError
from rkt.fetch.cache import max_age
from rkt.fetch.http import Response, Transport, read_small
from rkt.fetch.progress import progress_for

# Large enough that per-chunk overhead vanishes next to hashing and decompression.
CHUNK_SIZE = 1024 * 1024
# Attempts for one download, the first included; each retry resumes where the last stopped.
ATTEMPTS = 4
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


class StatusError(FetchError):
    """The server answered with a status that is not a success; ``status`` is the code."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"{url}: bad HTTP status code: {status}")
        self.status = status


class Downloaded(msgspec.Struct, frozen=True):
    """What a download learned: whether the cached copy is current, and how to cache."""

    not_modified: bool
    etag: str
    max_age: int
    size: int


class PartialDownload:
    """The file one URL downloads into, ``tmp/fetch-<hash of the URL>.part``, flock-ed while
    open; ``file`` is open for reading and writing.

    The name depends only on the URL so that a later run finds what an interrupted one got;
    the ``If-Range`` validator of those bytes sits beside it in ``….validator``. Only the
    holder of the lock touches either. A second fetch of the same URL waits for the lock.
    """

    def __init__(self, tmp_dir: Path, url: str) -> None:
        tmp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        stem = "fetch-" + hashlib.sha256(url.encode()).hexdigest()[:40]
        self.path = tmp_dir / f"{stem}.part"
        self._validator_path = tmp_dir / f"{stem}.validator"
        self.complete = False
        self.file: BinaryIO = os.fdopen(_open_locked(self.path), "r+b", buffering=0)

    def resume_point(self) -> tuple[int, str | None]:
        """The bytes a previous run left and their validator, or ``(0, None)`` when there
        is nothing usable (then the file is emptied)."""
        size = os.fstat(self.file.fileno()).st_size
        try:
            validator = self._validator_path.read_text().strip() or None
        except (OSError, UnicodeDecodeError):
            validator = None
        if size == 0 or validator is None:
            self.file.truncate(0)
            return 0, None
        return size, validator

    def save_validator(self, validator: str | None) -> None:
        if validator is None:
            self._validator_path.unlink(missing_ok=True)
            return
        write_atomically(self._validator_path, validator.encode(), durable=False)

    def close(self, *, keep: bool = False) -> None:
        """Close; unless ``keep``, remove the file first, while the lock is still held."""
        if not keep:
            self._validator_path.unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)
        self.file.close()

    def __enter__(self) -> PartialDownload:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        # Bytes of a download that broke off (or was interrupted by the user) are kept for
        # the next run; anything downloaded completely was verified or refused, and goes.
        keep = kind is not None and not self.complete
        self.close(keep=keep and os.fstat(self.file.fileno()).st_size > 0)


def _open_locked(path: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        fd = os.open(path, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Whoever held the lock may have finished and removed the file meanwhile; then
            # lock the file that is there now.
            if os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False)):
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _if_range_validator(response: Response) -> str | None:
    """A validator usable in ``If-Range``: a strong ETag, else Last-Modified (RFC 9110
    13.1.5 forbids weak ETags there)."""
    etag = response.header("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.header("Last-Modified")


def _content_length(response: Response) -> int | None:
    value = response.header("Content-Length")
    return int(value) if value and value.isdigit() else None


def download(
    transport: Transport,
    url: str,
    out: BinaryIO,
    *,
    etag: str = "",
    label: str = "ACI",
    stderr: TextIO | None = None,
    attempts: int = ATTEMPTS,
    resume: tuple[int, str | None] = (0, None),
    on_validator: Callable[[str | None], None] | None = None,
) -> Downloaded:
    """Download ``url`` into ``out`` (a file open for writing and reading).

    ``resume`` is what ``out`` already holds from an earlier attempt and the validator of
    those bytes; ``on_validator`` is told the validator of the bytes being written, so that
    a later run can resume them.

    Raises :class:`StatusError` for a status other than 200, 206 and 304 (and 304 only
    when ``etag`` was sent), :class:`FetchError` when no response came, and
    :class:`~rkt.fetch.http.TransferInterrupted` when the body broke off ``attempts`` times.
    """
    have, validator = resume if resume[1] else (0, None)
    out.seek(have)
    remember = on_validator or (lambda _validator: None)
    for attempt in range(1, attempts + 1):
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if have and validator:
            headers["Range"] = f"bytes={have}-"
            headers["If-Range"] = validator
        response = transport.request(url, headers)
        try:
            status = response.status
            if status == 304 and etag:
                return Downloaded(True, response.header("ETag") or etag, _max_age(response), 0)
            if status == 416 and have:
                # The part we have is no prefix of what is there now: start over.
                have, validator = _reset(out), None
                remember(None)
                continue
            if status == 206 and have:
                if not _starts_at(response, have):
                    have, validator = _reset(out), None
                    remember(None)
                    continue
            elif status == 200:
                have = _reset(out)
                validator = _if_range_validator(response)
                remember(validator)
            else:
                raise StatusError(url, status)
            length = _content_length(response)
            progress = progress_for(
                stderr, label, None if length is None else have + length, start=have
            )
            try:
                for chunk in response.chunks(CHUNK_SIZE):
                    out.write(chunk)
                    have += len(chunk)
                    if progress is not None:
                        progress.advance(len(chunk))
            except FetchError:
                if progress is not None:
                    progress.finish()
                if attempt == attempts:
                    raise
                continue
            if progress is not None:
                progress.finish()
            return Downloaded(False, response.header("ETag") or "", _max_age(response), have)
        finally:
            response.close()
    raise FetchError(f"{url}: download did not complete after {attempts} attempts")


def _max_age(response: Response) -> int:
    return max_age(response.header("Cache-Control"))


def _reset(out: BinaryIO) -> int:
    out.seek(0)
    out.truncate()
    return 0


def _starts_at(response: Response, offset: int) -> bool:
    match = _CONTENT_RANGE.fullmatch((response.header("Content-Range") or "").strip())
    return match is not None and int(match.group(1)) == offset


def fetch_small(transport: Transport, url: str) -> tuple[int, bytes]:
    """GET a small document (a signature, a key): the status and, for a 200, the body."""
    response = transport.request(url)
    try:
        return response.status, read_small(response) if response.status == 200 else b""
    finally:
        response.close()
