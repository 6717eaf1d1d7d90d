"""``--trust-keys-from-https``: trusting an image's signing keys found through discovery.

When an image is fetched by name and no key is trusted for that name yet, rkt asks the name's
discovery pages for ``ac-discovery-pubkeys`` and, with ``--trust-keys-from-https``, trusts the
keys found there for the name without asking (rkt/image/namefetcher.go, rkt/pubkey). Keys are
only taken over HTTPS with verified TLS; plain HTTP or unverified TLS needs
``--insecure-options=pubkey`` as well (with ``http`` for plain HTTP). Failing to get keys is
not fatal here: the signature check that follows fails closed anyway, with a clearer message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rkt.errors import FetchError, RktError
from rkt.fetch.download import fetch_small
from rkt.fetch.http import Transport, discovery_flags, discovery_transport
from rkt.insecure import Insecure

if TYPE_CHECKING:
    from rkt.trust import Keystore


def trust_discovered_keys(
    name: str,
    *,
    transport: Transport,
    keystore: Keystore,
    insecure: Insecure,
    verifies_tls: bool,
    port: int | None,
    log: Callable[[str], None],
) -> int:
    """Trust for the prefix ``name`` the keys its discovery announces; the number added."""
    from appc.discovery import App, discover_public_keys
    from appc.errors import AppcError

    if not verifies_tls and Insecure.PUBKEY not in insecure:
        log(f"not fetching keys for {name}: TLS verification is off (see --insecure-options)")
        return 0
    try:
        urls, _attempts = discover_public_keys(
            App(name),
            transport=discovery_transport(transport),
            insecure=discovery_flags(insecure),
            port=port,
        )
    except AppcError as error:
        log(f"error determining key location for {name}: {error}")
        return 0
    added = 0
    for url in urls:
        scheme = urlsplit(url).scheme
        if scheme != "https" and Insecure.PUBKEY not in insecure:
            log(f"not trusting {url} for {name}: keys are trusted from https only")
            continue
        try:
            status, armored = fetch_small(transport, url)
            if status != 200:
                raise FetchError(f"{url}: bad HTTP status code: {status}")
            key = keystore.add(armored, prefix=name, source=url)
        except RktError as error:
            log(f"error adding key {url} for {name}: {error}")
            continue
        log(f'trusting "{url}" for prefix "{name}" without fingerprint review')
        log(f'added key {key.fingerprint} for prefix "{name}" at "{key.path}"')
        added += 1
    return added
