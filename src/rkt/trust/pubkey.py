"""Where ``rkt trust`` gets keys: local files, HTTPS (HTTP only if allowed), or the
``ac-discovery-pubkeys`` meta tags of a prefix (discovery.md), as rkt's rkt/pubkey does.

HTTP goes through :mod:`appc.discovery`'s transport seam (a callable from URL to response), so
tests pass a transport that trusts their own CA and certificate verification stays on. Its
default transport refuses a redirect from https to http unless plain HTTP is allowed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rkt.errors import TrustError

if TYPE_CHECKING:
    from appc.discovery import Insecure, Transport

# rkt gives a key download two minutes in all; ours applies to each blocking step.
KEY_TIMEOUT = 30.0


def make_transport(*, allow_http: bool, skip_tls_verify: bool) -> Transport:
    """The default transport: urllib with the system's CAs (and ``SSL_CERT_FILE``)."""
    from appc.discovery import UrllibTransport

    return UrllibTransport(timeout=KEY_TIMEOUT, insecure=_insecure(allow_http, skip_tls_verify))


def _insecure(allow_http: bool, skip_tls_verify: bool) -> Insecure:
    from appc.discovery import Insecure

    flags = Insecure.NONE
    if allow_http:
        flags |= Insecure.HTTP
    if skip_tls_verify:
        flags |= Insecure.TLS
    return flags


def key_locations(
    prefix: str,
    *,
    transport: Transport,
    allow_http: bool = False,
    skip_tls_verify: bool = False,
    port: int | None = None,
) -> list[str]:
    """The key URLs announced for ``prefix`` by ``ac-discovery-pubkeys``; ``port`` is for
    tests whose server cannot listen on 443."""
    from appc.discovery import App, discover_public_keys
    from appc.errors import AppcError

    insecure = _insecure(allow_http, skip_tls_verify)
    try:
        keys, _ = discover_public_keys(
            App(prefix), transport=transport, insecure=insecure, port=port
        )
    except AppcError as error:
        raise TrustError(f"prefix {prefix!r}: key discovery failed: {error}") from error
    if not keys:
        raise TrustError(f"prefix {prefix!r}: meta discovery resulted in no keys")
    return keys


def read_key(location: str, *, transport: Transport, allow_http: bool = False) -> bytes:
    """The bytes of the key at ``location``: a local path, or an https (or, if allowed,
    http) URL answered with status 200."""
    from appc.errors import AppcError

    scheme = urlsplit(location).scheme
    if scheme == "":
        try:
            with open(location, "rb") as file:
                return file.read()
        except OSError as error:
            raise TrustError(f"{location}: cannot read key: {error.strerror}") from error
    if scheme == "http" and not allow_http:
        raise TrustError(
            f"{location}: refusing to fetch a key over plain http",
            hint="--insecure-allow-http allows it",
        )
    if scheme not in ("http", "https"):
        raise TrustError(
            f"{location}: only local files and http or https URLs are supported",
        )
    try:
        response = transport(location)
    except (AppcError, OSError) as error:
        raise TrustError(f"{location}: cannot fetch key: {error}") from error
    if urlsplit(response.final_url).scheme == "http" and not allow_http:
        # The default transport refuses this already; a transport passed in may not.
        raise TrustError(f"{location}: redirected to plain http {response.final_url}")
    if response.status != 200:
        raise TrustError(f"{location}: cannot fetch key: bad HTTP status code {response.status}")
    return response.body
