"""Where an image's detached signature is, and getting its bytes.

Beside an image, ``x.aci`` is signed by ``x.aci.asc`` (rkt's ``ascURLFromImgURL``); discovery
names the signature with ``{ext}=aci.asc``; ``--signature`` names a local file. Missing is a
:class:`~rkt.errors.SignatureError` (the check fails closed, docs/security.md 12); a network
failure or another status stays a :class:`~rkt.errors.FetchError`, since it says nothing
about the signature.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from rkt.errors import SignatureError
from rkt.fetch.http import Transport


def signature_url(aci_url: str) -> str:
    """``https://host/x.aci`` → ``https://host/x.aci.asc``, query and fragment kept."""
    parts = urlsplit(aci_url)
    return urlunsplit(parts._replace(path=parts.path.removesuffix(".aci") + ".aci.asc"))


def signature_path(aci_path: Path) -> Path:
    return aci_path.with_name(aci_path.name.removesuffix(".aci") + ".aci.asc")


def read_signature(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SignatureError(
            f"{path}: signature not found",
            hint="pass one with --signature, or --insecure-options=image to skip the check",
        ) from None
    except OSError as error:
        raise SignatureError(f"{path}: cannot read signature: {error.strerror}") from error


def fetch_signature(
    transport: Transport, url: str, *, first: bool, log: Callable[[str], None]
) -> bytes | None:
    """The signature at ``url``; ``None`` when the server asks (202) to come back after the
    image, which rkt allows once (``first``)."""
    from rkt.fetch.download import StatusError, fetch_small

    status, body = fetch_small(transport, url)
    if status == 202 and first:
        log("server requested deferring the signature download")
        return None
    if status in (404, 410):
        raise SignatureError(
            f"{url}: signature not found (HTTP status {status})",
            hint="use --insecure-options=image to fetch an image without a signature",
        )
    if status != 200:
        raise StatusError(url, status)
    return body
