"""AC Version: Semantic Versioning 2.0.0 (types.md, semver.org)."""

from __future__ import annotations

import re

from msgspec import Struct

from appc.errors import ValidationError
from appc.schema.field import describe, string

# semver.org's grammar: numeric identifiers have no leading zeros; pre-release and build
# identifiers are non-empty runs of [0-9A-Za-z-], and numeric pre-release ones have no
# leading zeros either.
_NUMBER = r"0|[1-9][0-9]*"
_PRE_IDENT = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_IDENT = r"[0-9A-Za-z-]+"
_SEMVER = re.compile(
    rf"(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER})"
    rf"(?:-(?P<pre>{_PRE_IDENT}(?:\.{_PRE_IDENT})*))?"
    rf"(?:\+(?P<build>{_BUILD_IDENT}(?:\.{_BUILD_IDENT})*))?"
)


class SemVer(Struct, frozen=True):
    major: int
    minor: int
    patch: int
    prerelease: str = ""
    build: str = ""

    @classmethod
    def parse(cls, value: object, path: str = "") -> SemVer:
        text = string(value, path)
        match = _SEMVER.fullmatch(text)
        if match is None:
            raise ValidationError(
                f"{describe(text)} is not a valid version: expected semantic versioning "
                "MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. 0.8.11",
                path,
            )
        version = cls(
            int(match["major"]),
            int(match["minor"]),
            int(match["patch"]),
            match["pre"] or "",
            match["build"] or "",
        )
        # types.md: an AC Version must reference a tagged version; 0.0.0 never was one.
        if (version.major, version.minor, version.patch) == (0, 0, 0) and not version.prerelease:
            raise ValidationError(f"{describe(text)} is not valid: version cannot be zero", path)
        return version

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + self.prerelease
        if self.build:
            text += "+" + self.build
        return text
