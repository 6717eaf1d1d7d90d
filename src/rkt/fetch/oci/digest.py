"""Content digests (OCI image-spec descriptor.md "Digests"): every manifest, config and layer is
checked against the digest that named it before it is used.

Only ``sha256`` and ``sha512`` are accepted, with lower-case hex of the right length; a digest
is checked before it ever becomes part of a URL or a file name, so a hostile index cannot name
``../..`` through one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rkt.errors import FetchError

if TYPE_CHECKING:
    import hashlib

_DIGEST = re.compile(r"(sha256):([0-9a-f]{64})|(sha512):([0-9a-f]{128})")


def check_digest(value: object, where: str) -> str:
    """``value`` if it is a digest this code can verify; a :class:`FetchError` otherwise."""
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise FetchError(f'{where}: "{value}" is not a sha256 or sha512 digest')
    return value


def hasher(digest: str) -> hashlib._Hash:
    """A new hash object of the digest's algorithm."""
    import hashlib  # loads OpenSSL: not for a pull that only asks for a digest

    return hashlib.new(digest.partition(":")[0])


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    digest = hasher(f"{algorithm}:")
    digest.update(data)
    return f"{algorithm}:{digest.hexdigest()}"


def verify_bytes(data: bytes, digest: str, what: str) -> None:
    """Raise unless ``data`` hashes to ``digest`` (an error naming both)."""
    actual = digest_of(data, digest.partition(":")[0])
    if actual != digest:
        raise DigestMismatch(what, digest, actual)


class DigestMismatch(FetchError):
    """Content whose hash is not the digest it was asked for by."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{what}: content does not match its digest {expected} (got {actual})",
            hint="the registry or file is corrupt or was tampered with; nothing was stored",
        )
        self.expected = expected
        self.actual = actual
