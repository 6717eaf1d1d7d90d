"""Image ID: ``sha512-<hex digest>`` and the short forms rkt accepts (types.md)."""

from __future__ import annotations

import re

from appc.errors import ValidationError
from appc.schema.field import describe, string

ALGORITHM = "sha512"
FULL_LENGTH = 128
# rkt prints IDs cut to half the digest's bytes, 32 hex digits (ShortHash in the reference).
SHORT_LENGTH = 32
_HEX = re.compile(r"[0-9a-fA-F]+")


def image_id(value: object, path: str = "", *, full: bool = False) -> str:
    """Check an Image ID; ``full`` demands the whole digest instead of a prefix of it."""
    text = string(value, path)
    algorithm, sep, digest = text.partition("-")
    if not sep or algorithm != ALGORITHM:
        raise ValidationError(
            f"{describe(text)} is not a valid image ID: expected sha512-<hex digest>", path
        )
    if not digest or len(digest) > FULL_LENGTH or not _HEX.fullmatch(digest):
        raise ValidationError(
            f"{describe(text)} is not a valid image ID: expected sha512- followed by up to "
            f"{FULL_LENGTH} hex digits",
            path,
        )
    if full and len(digest) != FULL_LENGTH:
        raise ValidationError(
            f"{describe(text)} is not a full image ID: expected {FULL_LENGTH} hex digits", path
        )
    return text


def normalize(image_id_text: str) -> str:
    """The canonical spelling of an image ID: hex digits in lower case, as stores key them."""
    return image_id_text.lower()


def short(image_id_text: str) -> str:
    """The short form rkt prints: the algorithm and the first half of the digest."""
    return image_id_text[: len(ALGORITHM) + 1 + SHORT_LENGTH]


def from_digest(hexdigest: str) -> str:
    return f"{ALGORITHM}-{hexdigest}"
