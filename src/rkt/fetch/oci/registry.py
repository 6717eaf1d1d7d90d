"""The registry HTTP API v2 (distribution's docs/spec/api.md) for one repository: manifests by
tag or digest, their digests alone (``HEAD``), and blobs streamed into files.

- HTTPS first; with ``--insecure-options=http`` a registry that does not speak TLS is asked
  again over plain HTTP, as rkt's docker fetcher and Docker's insecure registries do.
- ``401`` challenges go to :class:`~rkt.fetch.oci.auth.Authenticator`; its ``Authorization``
  travels as ``origin_headers``, so a blob redirected to another host (a storage bucket) never
  carries it.
- ``429`` and ``5xx`` are retried with exponential backoff (``Retry-After`` honoured up to
  :data:`MAX_RETRY_AFTER`); a body that breaks off is resumed with ``Range`` (a blob is
  content-addressed, so the rest is the rest of the same bytes).
- A blob is never read past the size its descriptor gives (a server sending endless data
  fails at once), and is hashed as it is written; a mismatch names the digest.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping

import msgspec

from rkt.config import Credentials
from rkt.errors import FetchError
from rkt.fetch.http import Response, TransferInterrupted, Transport, read_small
from rkt.fetch.oci.auth import Authenticator
from rkt.fetch.oci.digest import DigestMismatch, check_digest, digest_of, hasher
from rkt.fetch.oci.document import ACCEPT, MAX_MANIFEST, Descriptor
from rkt.fetch.oci.reference import DockerReference
from rkt.insecure import Insecure

ATTEMPTS = 4
BACKOFF = 0.5  # seconds before the first retry; doubled each time
MAX_RETRY_AFTER = 10.0
_RETRIED = frozenset({429, 500, 502, 503, 504})
CHUNK_SIZE = 1024 * 1024


class Cancelled(FetchError):
    """Another part of the same pull failed; this download stopped."""


class _ErrorBody(msgspec.Struct):
    class _Error(msgspec.Struct):
        code: str = ""
        message: str = ""

    errors: tuple[_Error, ...] = ()


def _registry_message(response: Response) -> str:
    """The first error of a registry's JSON error body, if it sent one."""
    try:
        body = read_small(response, 64 * 1024)
        errors = msgspec.json.decode(body, type=_ErrorBody).errors
    except (FetchError, msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return ""
    if not errors:
        return ""
    text = " ".join(f"{errors[0].code}: {errors[0].message}".split())
    return f" ({text[:200]})"


class Manifest(msgspec.Struct, frozen=True):
    """A manifest as served: its bytes, ``Content-Type`` and verified digest."""

    data: bytes
    content_type: str
    digest: str


class Registry:
    """One repository of one registry."""

    def __init__(
        self,
        ref: DockerReference,
        transport: Transport,
        *,
        insecure: Insecure = Insecure.NONE,
        credentials: Credentials | None = None,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] = lambda _message: None,
    ) -> None:
        self.ref = ref
        self._transport = transport
        self._allow_http = Insecure.HTTP in insecure
        self._scheme = "https"
        self._scheme_known = not self._allow_http
        self._auth = Authenticator(
            ref.host, ref.repository, transport, credentials, allow_http=self._allow_http
        )
        self._sleep = sleep
        self._log = log

    @property
    def endpoint(self) -> str:
        """The registry's base URL as it answered (the store remembers it)."""
        return f"{self._scheme}://{self.ref.host}"

    def prefer(self, endpoint: str) -> None:
        """Ask over the scheme of ``endpoint`` first (where the registry answered last time,
        so an update check of a plain-HTTP registry does not knock at HTTPS first)."""
        if self._allow_http and endpoint.startswith("http://"):
            self._scheme = "http"

    def _url(self, kind: str, reference: str) -> str:
        return f"{self._scheme}://{self.ref.host}/v2/{self.ref.repository}/{kind}/{reference}"

    def _what(self, kind: str, reference: str) -> str:
        return f"{self.ref.host}/{self.ref.repository} {kind[:-1]} {reference}"

    def _request(
        self, method: str, kind: str, reference: str, headers: Mapping[str, str]
    ) -> Response:
        """A response with a status that is not 401, 429 or 5xx, or an error."""
        answered = False
        for attempt in range(ATTEMPTS):
            sent = self._auth.headers()
            try:
                response = self._transport.request(
                    self._url(kind, reference), headers, method=method, origin_headers=sent
                )
            except FetchError as err:
                if self._scheme_known:
                    if "WRONG_VERSION_NUMBER" in err.message and self._scheme == "https":
                        # What an HTTPS client hears from a plain HTTP server.
                        raise FetchError(
                            err.message,
                            hint="if the registry speaks plain HTTP, use --insecure-options=http",
                        ) from err
                    raise
                other = "http" if self._scheme == "https" else "https"
                self._log(f"{self.ref.host} does not answer over {self._scheme}; trying {other}")
                self._scheme, self._scheme_known = other, True
                response = self._transport.request(
                    self._url(kind, reference), headers, method=method, origin_headers=sent
                )
            self._scheme_known = True
            status = response.status
            if status == 401 and not answered:
                answered = True
                retry = self._auth.answer(response, sent)
                response.close()
                if retry:
                    continue
                raise FetchError(f"{self._what(kind, reference)}: 401 without a usable challenge")
            if status in _RETRIED and attempt + 1 < ATTEMPTS:
                delay = self._delay(response, attempt)
                response.close()
                self._log(f"{self._what(kind, reference)}: status {status}; retrying in {delay:g}s")
                self._sleep(delay)
                continue
            return response
        raise AssertionError("unreachable: the last attempt returns")

    @staticmethod
    def _delay(response: Response, attempt: int) -> float:
        after = (response.header("Retry-After") or "").strip()
        if after.isdigit():
            return min(float(after), MAX_RETRY_AFTER)
        return float(BACKOFF * 2**attempt)

    def _fail(self, response: Response, kind: str, reference: str) -> FetchError:
        what = self._what(kind, reference)
        status = response.status
        detail = _registry_message(response)
        if status == 404:
            return FetchError(f"{what}: not found in the registry{detail}")
        if status in (401, 403):
            return FetchError(f"{what}: access denied ({status}){detail}")
        return FetchError(f"{what}: bad HTTP status code: {status}{detail}")

    # --- manifests ----------------------------------------------------------------------

    def manifest_digest(self, reference: str) -> str | None:
        """The digest the registry serves for ``reference`` (``HEAD``), or None if it does
        not say (then a ``GET`` must tell)."""
        response = self._request("HEAD", "manifests", reference, {"Accept": ACCEPT})
        try:
            if response.status != 200:
                raise self._fail(response, "manifests", reference)
            header = response.header("Docker-Content-Digest")
            if not header:
                return None
            return check_digest(header, self._what("manifests", reference))
        finally:
            response.close()

    def manifest(self, reference: str) -> Manifest:
        """The manifest (or index) for a tag or digest, verified: against the digest asked
        for, or against the ``Docker-Content-Digest`` the registry announced for a tag."""
        what = self._what("manifests", reference)
        response = self._request("GET", "manifests", reference, {"Accept": ACCEPT})
        try:
            if response.status != 200:
                raise self._fail(response, "manifests", reference)
            length = response.header("Content-Length") or ""
            if length.isdigit() and int(length) > MAX_MANIFEST:
                raise FetchError(f"{what}: {length} bytes; a manifest may have {MAX_MANIFEST}")
            try:
                data = read_small(response, MAX_MANIFEST)
            except TransferInterrupted:
                raise
            except FetchError as err:
                raise FetchError(f"{what}: larger than {MAX_MANIFEST} bytes") from err
            content_type = response.header("Content-Type") or ""
            announced = response.header("Docker-Content-Digest")
        finally:
            response.close()
        expected = reference if ":" in reference else announced
        if expected:
            check_digest(expected, what)
        actual = digest_of(data, expected.partition(":")[0] if expected else "sha256")
        if expected and actual != expected:
            raise DigestMismatch(what, expected, actual)
        return Manifest(data, content_type, actual)

    # --- blobs --------------------------------------------------------------------------

    def blob_bytes(self, descriptor: Descriptor, limit: int) -> bytes:
        """A small blob (the config) in memory, verified."""
        if descriptor.size > limit:
            raise FetchError(
                f"{self._what('blobs', descriptor.digest)}: {descriptor.size} bytes; "
                f"the limit is {limit}"
            )
        parts: list[bytes] = []
        self.blob_to(descriptor, lambda chunk: parts.append(bytes(chunk)), reset=parts.clear)
        return b"".join(parts)

    def blob_to(
        self,
        descriptor: Descriptor,
        write: Callable[[bytes], object],
        *,
        reset: Callable[[], object],
        stop: threading.Event | None = None,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        """Stream a blob to ``write``, verified; ``reset`` empties what was written when a
        resumed transfer has to start over."""
        digest, size = descriptor.digest, descriptor.size
        what = self._what("blobs", digest)
        digest_hash = hasher(digest)
        have = 0
        for attempt in range(ATTEMPTS):
            headers = {"Range": f"bytes={have}-"} if have else {}
            response = self._request("GET", "blobs", digest, headers)
            try:
                if response.status == 206 and have and _starts_at(response, have):
                    pass
                elif response.status == 200:
                    if have:
                        reset()
                        digest_hash, have = hasher(digest), 0
                else:
                    raise self._fail(response, "blobs", digest)
                try:
                    for chunk in response.chunks(CHUNK_SIZE):
                        if stop is not None and stop.is_set():
                            raise Cancelled(f"{what}: cancelled")
                        have += len(chunk)
                        if have > size:
                            raise FetchError(
                                f"{what}: the registry sent more than the {size} bytes the "
                                "manifest gives"
                            )
                        digest_hash.update(chunk)
                        write(chunk)
                        if progress is not None:
                            progress(len(chunk))
                except TransferInterrupted:
                    if attempt + 1 == ATTEMPTS:
                        raise
                    self._log(f"{what}: transfer broke off at byte {have}; resuming")
                    continue
                break
            finally:
                response.close()
        if have != size:
            raise FetchError(f"{what}: {have} bytes received; the manifest gives {size}")
        actual = f"{digest.partition(':')[0]}:{digest_hash.hexdigest()}"
        if actual != digest:
            raise DigestMismatch(what, digest, actual)


def _starts_at(response: Response, offset: int) -> bool:
    value = (response.header("Content-Range") or "").strip()
    return value.startswith(f"bytes {offset}-")


def write_fd(fd: int) -> tuple[Callable[[bytes], object], Callable[[], object]]:
    """``write`` and ``reset`` functions for :meth:`Registry.blob_to` into a file."""

    def write(chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]

    def reset() -> None:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)

    return write, reset
