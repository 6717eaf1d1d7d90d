"""Image arguments: what a word on the command line names, in rkt's order.

``rkt fetch WORD`` may name an image already in the store (``sha512-…``, a full ID or a unique
prefix), a local ACI (a path, or a ``file://`` URL), a remote ACI (an ``http(s)://`` URL whose
path ends in ``.aci``), an appc name with labels (``example.com/app:1.0,os=linux``) to be
found through discovery, or an OCI image: ``docker://`` in a registry, or (skopeo's and
podman's syntax) ``oci:DIR[:REF]``, ``oci-archive:FILE[:REF]``, ``docker-archive:FILE``.
The rules are rkt's (rkt/image/common.go, ``DistFromImageString``):
a store hash first, then the URL scheme, and for words without one a guess between a path
and a name.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from pathlib import Path

import msgspec

from rkt.errors import FetchError

ACI_EXTENSION = ".aci"

# rkt (appc's types.NewHash) takes "sha512-<value>" as a hash before anything else; we also
# require the value to be hex, so that a name such as "sha512-tools" stays a name.
_HASH = re.compile(r"sha512-[0-9a-f]+")
# RFC 3986 section 3.1: a scheme is a letter followed by letters, digits, "+", "-" or ".".
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


class Kind(enum.Enum):
    HASH = "hash"
    PATH = "path"
    URL = "url"
    NAME = "name"
    OCI = "oci"  # docker://, oci:, oci-archive:, docker-archive: (rkt.fetch.oci)


class ImageArgument(msgspec.Struct, frozen=True):
    """One classified image argument; ``value`` is the hash, absolute path, URL or app
    string, depending on ``kind``."""

    kind: Kind
    value: str
    given: str

    @property
    def path(self) -> Path:
        assert self.kind is Kind.PATH
        return Path(self.value)


def _looks_like_path(text: str, cwd: Path) -> bool:
    """rkt's ``guessAppcOrPath``: a heuristic, because ``app`` could be either."""
    if os.path.isabs(text):
        return True
    # An existing regular file of that name is most likely what the user meant.
    try:
        if (cwd / text).is_file():
            return True
    except OSError:
        pass
    # A colon separates a name from its version ("example.com/app:1.0"), and is unusual in
    # a relative path.
    if ":" in text:
        return False
    if "./" in text:
        return True
    return os.path.splitext(text)[1] == ACI_EXTENSION


def classify(text: str, *, cwd: Path | None = None) -> ImageArgument:
    """Classify one image argument; relative paths are resolved against ``cwd``.

    Raises :class:`FetchError` for ``docker:`` without ``//`` and for an
    ``http(s)``/``file`` URL whose path does not end in ``.aci``, as rkt does.
    """
    if not text:
        raise FetchError("an empty image argument", hint="expected a name, path, URL or hash")
    if _HASH.fullmatch(text):
        return ImageArgument(Kind.HASH, text, text)
    base = cwd if cwd is not None else Path.cwd()
    scheme_match = _SCHEME.match(text)
    scheme = scheme_match.group(1).lower() if scheme_match else ""
    # "example.com/app:1.0" has no scheme, because "/" cannot occur in one; "app:1.0" has
    # scheme "app", and with any scheme but those below it is an appc name (as in rkt).
    if scheme in ("http", "https", "file"):
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(text)
        if os.path.splitext(parts.path)[1] != ACI_EXTENSION:
            raise FetchError(
                f'invalid image string "{text}"',
                hint=f"the path of an image URL must end in {ACI_EXTENSION}",
            )
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise FetchError(f'"{text}": file URLs must name a local file')
            return ImageArgument(Kind.PATH, os.path.abspath(unquote(parts.path)), text)
        return ImageArgument(Kind.URL, text, text)
    if scheme == "docker" and not text[len("docker:") :].startswith("//"):
        raise FetchError(
            f'invalid image string "{text}"', hint="a docker image is docker://NAME[:TAG]"
        )
    if scheme in ("docker", "oci", "oci-archive", "docker-archive"):
        return ImageArgument(Kind.OCI, text, text)
    if not scheme and _looks_like_path(text, base):
        return ImageArgument(Kind.PATH, os.path.abspath(base / text), text)
    return ImageArgument(Kind.NAME, text, text)


def app_string(name: str, labels: Mapping[str, str]) -> str:
    """The command-line form of a name with labels, for messages."""
    return ",".join([name, *(f"{key}={value}" for key, value in labels.items())])
