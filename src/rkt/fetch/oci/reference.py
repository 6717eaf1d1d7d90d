"""Image references of the OCI sources: ``docker://`` names and the local transports.

A docker reference is ``[HOST[:PORT]/]NAME[:TAG][@DIGEST]`` with the grammar of
distribution/reference, normalised as docker2aci and rkt did (pkg/distribution/docker.go):
without a host the image is on Docker Hub (``registry-1.docker.io``) and a one-segment name
gets ``library/``; the default tag is ``latest``; ``docker.io`` and ``index.docker.io`` are
Docker Hub too. The first segment is a host when it has a ``.`` or ``:`` or is ``localhost``.

The local transports take skopeo's and podman's syntax: ``oci:DIR[:REF]`` (an OCI image
layout), ``oci-archive:FILE[:REF]`` (a tar of one) and ``docker-archive:FILE`` (``docker
save`` output; a ``:NAME:TAG`` after the file picks one of several images).
"""

from __future__ import annotations

import os
import re

import msgspec

from rkt.errors import FetchError

DOCKER_HUB = "registry-1.docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", DOCKER_HUB})
DEFAULT_TAG = "latest"
SYNTAX = "docker://[REGISTRY_HOST[:REGISTRY_PORT]/]IMAGE_NAME[:TAG|@DIGEST]"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:.]+\])(?::[0-9]{{1,5}})?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
# Only the algorithms the OCI image spec registers; anything else could not be verified.
_DIGEST = re.compile(r"(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})")
_MAX_NAME = 255
# appc's SanitizeACIdentifier: what an AC Identifier cannot hold becomes "_".
_NOT_IDENTIFIER = re.compile(r"[^a-z0-9._~/-]")
_IDENTIFIER_EDGES = re.compile(r"^[^a-z0-9]+|[^a-z0-9]+$")


class DockerReference(msgspec.Struct, frozen=True):
    """A normalised docker reference: ``host`` and ``repository`` always set; ``tag``
    (empty when only a digest was given) and ``digest`` (``sha256:…``, or empty)."""

    host: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def reference(self) -> str:
        """What the registry API is asked for: the digest if there is one, else the tag."""
        return self.digest or self.tag

    def full(self) -> str:
        """rkt's ``FullDockerRef``: every default filled in, so equal images compare equal."""
        name = f"{self.host}/{self.repository}"
        return f"{name}@{self.digest}" if self.digest else f"{name}:{self.tag}"

    def url(self) -> str:
        """The key the store remembers this reference by."""
        return "docker://" + self.full()

    def image_name(self) -> str:
        """The ACI name: registry host and repository, as docker2aci named squashed images."""
        return sanitize_identifier(f"{self.host}/{self.repository}")


def sanitize_identifier(text: str) -> str:
    """Text made into an AC Identifier (lower case; anything else becomes ``_``)."""
    cleaned = _IDENTIFIER_EDGES.sub("", _NOT_IDENTIFIER.sub("_", text.lower()))
    if not cleaned:
        raise FetchError(f'"{text}" cannot be made into an image name')
    return cleaned


def _invalid(text: str, why: str) -> FetchError:
    return FetchError(f'invalid docker reference "{text}": {why}', hint=f"expected {SYNTAX}")


def parse_docker(text: str) -> DockerReference:
    """Parse the part of a ``docker://`` argument after the scheme."""
    if not text:
        raise _invalid(text, "it is empty")
    rest, at, digest = text.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise _invalid(text, f'"{digest}" is not a sha256 or sha512 digest')
    tag = ""
    # A tag follows the last ":" unless that ":" is part of a host's port ("host:5000/app").
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise _invalid(text, f'"{tag}" is not a valid tag')
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first[:1] == "["):
        host, path = first, remainder
        if not _DOMAIN.fullmatch(host):
            raise _invalid(text, f'"{host}" is not a valid registry host')
    else:
        host, path = DOCKER_HUB, rest
    if host in _HUB_ALIASES:
        host = DOCKER_HUB
        if "/" not in path:
            path = "library/" + path
    if not _PATH.fullmatch(path):
        what = "must be lower case" if path.lower() != path else "is not a valid repository"
        raise _invalid(text, f'"{path}" {what}')
    if len(host) + 1 + len(path) > _MAX_NAME:
        raise _invalid(text, f"the name is longer than {_MAX_NAME} characters")
    if not tag and not digest:
        tag = DEFAULT_TAG
    return DockerReference(host, path, tag, digest)


class LocalReference(msgspec.Struct, frozen=True):
    """An image in a file or directory: ``transport`` is ``oci``, ``oci-archive`` or
    ``docker-archive``; ``path`` is absolute; ``ref`` the image asked for in it (an OCI
    ``org.opencontainers.image.ref.name``, or a ``NAME:TAG`` of a docker archive), or empty."""

    transport: str
    path: str
    ref: str = ""

    def url(self) -> str:
        return f"{self.transport}:{self.path}" + (f":{self.ref}" if self.ref else "")


LOCAL_TRANSPORTS = ("oci", "oci-archive", "docker-archive")


def parse_local(text: str, *, cwd: str | None = None) -> LocalReference:
    """Parse ``TRANSPORT:PATH[:REF]``; the path is made absolute against ``cwd``."""
    transport, _colon, rest = text.partition(":")
    if transport not in LOCAL_TRANSPORTS:
        raise FetchError(f'"{text}": unknown image transport "{transport}"')
    # skopeo splits at the first ":" after the path; a path with ":" in it cannot be named.
    path, _colon, ref = rest.partition(":")
    if not path:
        raise FetchError(f'"{text}": no path given', hint=f"expected {transport}:PATH[:REFERENCE]")
    if "\0" in path or "\0" in ref:
        raise FetchError(f'"{text}": the path contains a NUL byte')
    base = cwd if cwd is not None else os.getcwd()
    return LocalReference(transport, os.path.normpath(os.path.join(base, path)), ref)
