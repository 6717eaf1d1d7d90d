"""AC Identifier, AC Name and AC Kind (types.md)."""

from __future__ import annotations

import re

from appc.errors import ValidationError
from appc.schema.field import describe, string

# types.md states each rule twice: in prose (allowed characters, alphanumeric at both ends) and
# as a regular expression that also forbids two separators in a row. Its own examples
# ("example.com/~user/app_v1") break the expression but keep the prose, and the reference
# implementation checks the prose; so do we.
_AC_IDENTIFIER = re.compile(r"[a-z0-9](?:[a-z0-9._~/-]*[a-z0-9])?")
_AC_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_AC_KIND = re.compile(r"[A-Za-z0-9]+")

IMAGE_MANIFEST_KIND = "ImageManifest"
POD_MANIFEST_KIND = "PodManifest"


def ac_identifier(value: object, path: str = "") -> str:
    """Check an AC Identifier: lower-case URI unreserved characters, alphanumeric at both ends."""
    text = string(value, path)
    if not _AC_IDENTIFIER.fullmatch(text):
        raise ValidationError(
            f"{describe(text)} is not a valid AC Identifier: expected lower-case letters, "
            'digits and "-._~/", alphanumeric at both ends',
            path,
        )
    return text


def ac_name(value: object, path: str = "") -> str:
    """Check an AC Name: lower-case letters and digits, words joined by single hyphens."""
    text = string(value, path)
    if not _AC_NAME.fullmatch(text):
        raise ValidationError(
            f"{describe(text)} is not a valid AC Name: expected lower-case letters, digits "
            'and "-", alphanumeric at both ends',
            path,
        )
    return text


def ac_kind(value: object, path: str, expected: str) -> str:
    """Check an AC Kind and that it is the one the document must have."""
    text = string(value, path)
    if not _AC_KIND.fullmatch(text) or text != expected:
        raise ValidationError(f"{describe(text)} is not valid: expected {expected!r}", path)
    return text


def sanitize_ac_name(text: str) -> str:
    """Turn arbitrary text into an AC Name (for app names derived from image names)."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not name:
        raise ValidationError(f"{describe(text)} has no character usable in an AC Name")
    return name
