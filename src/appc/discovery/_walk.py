"""The discovery walk: fetch ``?ac-discovery=1`` pages from the name up to its host."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from appc.discovery._app import App
from appc.discovery._meta import ACI_TAG, KEYS_TAG, ACMeta, parse_meta
from appc.discovery._template import ACIEndpoint, expand_endpoint
from appc.discovery._transport import Insecure, Transport, UrllibTransport
from appc.errors import DiscoveryError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Attempt:
    """A level of the walk that gave no page: the name prefix tried and why it failed."""

    prefix: str
    error: DiscoveryError


def discovery_url(prefix: str, scheme: str, port: int | None = None) -> str:
    """``https://{name}?ac-discovery=1`` (discovery.md) for a name prefix, on ``port`` if set."""
    host, slash, path = prefix.partition("/")
    if port:
        host = f"{host}:{port}"
    return f"{scheme}://{host}{slash}{path}?ac-discovery=1"


def _fetch_page(
    prefix: str, transport: Transport, insecure: Insecure, port: int | None
) -> list[ACMeta]:
    """The meta tags of one level's page: HTTPS first, then HTTP if the user allowed it.

    Only a 200 counts, as in the reference; discovery.md asks to walk up on a 4xx, and the
    reference walks up on any failure, which we follow.
    """
    from urllib.parse import urlsplit

    schemes = ("https", "http") if Insecure.HTTP in insecure else ("https",)
    allowed = set(schemes)
    errors: list[str] = []
    for scheme in schemes:
        url = discovery_url(prefix, scheme, port)
        try:
            response = transport(url)
        except DiscoveryError as error:
            errors.append(str(error))
            continue
        except OSError as error:
            errors.append(f"{url}: {' '.join(str(error).split())}")
            continue
        if response.status != 200:
            errors.append(f"{url}: expected status 200, got {response.status}")
            continue
        # Checked here as well as in the default transport, so that a transport passed in
        # cannot turn a secure discovery into a plain-text one by following a redirect.
        if urlsplit(response.final_url).scheme not in allowed:
            errors.append(
                f"{url}: redirected to {response.final_url}: expected an https url "
                "(plain http needs the insecure option)"
            )
            continue
        return parse_meta(response.body)
    raise DiscoveryError("; ".join(errors))


def _longest_prefix(matches: Sequence[tuple[str, T]]) -> list[T]:
    """The values whose prefix is the longest: the most specific claim on the name wins.

    discovery.md leaves the choice among several matching tags to the client; the reference
    returns every match in page order.
    """
    if not matches:
        return []
    longest = max(len(prefix) for prefix, _ in matches)
    return [value for prefix, value in matches if len(prefix) == longest]


def _endpoints_in(app: App, metas: Sequence[ACMeta]) -> list[ACIEndpoint]:
    matches = []
    for meta in metas:
        # A plain string prefix, as the spec words it and the reference implements it:
        # prefix "example.com/my" matches "example.com/myapp" too.
        if meta.name != ACI_TAG or not app.name.startswith(meta.prefix):
            continue
        # Unfillable templates drop out before the longest prefix is chosen, so a shorter
        # prefix's template still serves when the longer one needs a label we lack.
        endpoint = expand_endpoint(meta.uri, app.template_values())
        if endpoint is not None:
            matches.append((meta.prefix, endpoint))
    return _longest_prefix(matches)


def _keys_in(app: App, metas: Sequence[ACMeta]) -> list[str]:
    return _longest_prefix(
        [(m.prefix, m.uri) for m in metas if m.name == KEYS_TAG and app.name.startswith(m.prefix)]
    )


def _walk(
    app: App,
    select: Callable[[App, Sequence[ACMeta]], list[T]],
    what: str,
    transport: Transport | None,
    insecure: Insecure,
    port: int | None,
) -> tuple[list[T], list[Attempt]]:
    """Try ``example.com/a/b``, then ``example.com/a``, then ``example.com``; the first level
    whose page yields something wins. Failed levels are returned as attempts for feedback."""
    if port is not None and not 0 <= port <= 65535:
        raise DiscoveryError(
            f"port {port} for {app.name} is out of range (expected 1-65535, or 0 for the default)"
        )
    app = app.with_defaults()
    if transport is None:
        transport = UrllibTransport(insecure=insecure)
    attempts: list[Attempt] = []
    parts = app.name.split("/")
    for end in range(len(parts), 0, -1):
        prefix = "/".join(parts[:end])
        try:
            metas = _fetch_page(prefix, transport, insecure, port)
        except DiscoveryError as error:
            attempts.append(Attempt(prefix, error))
            continue
        found = select(app, metas)
        if found:
            return found, attempts
    tried = "".join(f"; {attempt.prefix}: {attempt.error}" for attempt in attempts)
    raise DiscoveryError(
        f"no {what} found for {app} at {discovery_url(app.name, 'https', port)} "
        f"or its parent paths{tried}"
    )


def discover_aci_endpoints(
    app: App,
    *,
    transport: Transport | None = None,
    insecure: Insecure = Insecure.NONE,
    port: int | None = None,
) -> tuple[list[ACIEndpoint], list[Attempt]]:
    """Where to download ``app``'s image and signature, and the levels that failed on the way.

    Labels absent from ``app`` take their defaults (:meth:`App.with_defaults`). Raises
    :class:`~appc.errors.DiscoveryError` when no level yields a usable ``ac-discovery``
    template. Without a ``transport``, a :class:`UrllibTransport` honouring ``insecure`` is
    used; a transport passed in is used as configured and ``insecure`` only governs the
    fallback to plain HTTP.
    """
    return _walk(app, _endpoints_in, "ac-discovery template", transport, insecure, port)


def discover_public_keys(
    app: App,
    *,
    transport: Transport | None = None,
    insecure: Insecure = Insecure.NONE,
    port: int | None = None,
) -> tuple[list[str], list[Attempt]]:
    """The URLs of the public keys for ``app`` (``ac-discovery-pubkeys``), and failed levels.

    Walks separately from :func:`discover_aci_endpoints`, as the reference does: the keys may
    be announced at a different level than the images.
    """
    return _walk(app, _keys_in, "ac-discovery-pubkeys url", transport, insecure, port)
