"""Fetching images: from an image argument to a verified, stored and rendered image.

How the parts fit:

- :class:`Fetcher` (``fetcher``) is the one entry point: ``fetch(arg, pull_policy=…,
  signature=…, labels=…)`` returns the full image ID. It uses everything below, then
  ``rkt.store`` to import and render and ``rkt.trust`` to verify.
- ``argument`` classifies a command-line word in rkt's order: a store hash or prefix, a local
  path (or ``file://``), an ``http(s)://`` URL, else an appc name for discovery.
- ``http`` is the transport seam (:class:`Transport`) and its default on urllib3
  (:class:`HttpTransport`): TLS verified unless ``Insecure.TLS`` (with an optional CA bundle),
  plain HTTP only with ``Insecure.HTTP``, redirects checked hop by hop, ``auth.d``
  credentials per host over HTTPS only. Discovery uses the same transport through an adapter.
- ``download`` fills a locked file per URL in the data dir's ``tmp/``: ``If-None-Match``
  with the cached ETag, and ``Range``/``If-Range`` to resume a transfer that broke off, in
  the same run or the next one.
- ``cache`` decides from the stored ``Remote`` whether the network may be skipped
  (Cache-Control ``max-age``; ``no-store``/``no-cache`` mean 0).
- ``signature`` finds and gets the detached signature (``x.aci.asc``, discovery's
  ``{ext}=aci.asc`` or ``--signature``); ``verification`` reads the downloaded manifest,
  compares its name and labels with those asked for (rkt#776) and calls
  :func:`rkt.trust.verify`, all before ``store.import_aci``.
- ``keys`` implements ``--trust-keys-from-https``: keys announced by discovery, fetched over
  HTTPS and added to the keystore for the image name.
- ``progress`` draws the download bar on stderr when it is a terminal.
- ``oci`` (a subpackage) fetches Docker and OCI images (``docker://``, ``oci:``,
  ``oci-archive:``, ``docker-archive:``) and converts them to ACIs as docker2aci did.

Only this module's docstring and names load on ``import rkt.fetch``; urllib3 is imported the
first time a URL is fetched, pysequoia (through ``rkt.trust``) the first time a signature is
checked. Errors are :class:`~rkt.errors.FetchError` (network, status, invalid image,
mismatched name or labels), :class:`~rkt.errors.SignatureError` (missing or bad signature,
untrusted key) and the store's :class:`~rkt.errors.ImageNotFound` (``--pull-policy=never``,
unknown hash).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rkt.fetch.fetcher import Fetcher as Fetcher
    from rkt.fetch.fetcher import PullPolicy as PullPolicy
    from rkt.fetch.http import HttpTransport as HttpTransport
    from rkt.fetch.http import Response as Response
    from rkt.fetch.http import Transport as Transport

_EXPORTS = {
    "Fetcher": "fetcher",
    "PullPolicy": "fetcher",
    "HttpTransport": "http",
    "Response": "http",
    "Transport": "http",
}

__all__ = ["Fetcher", "HttpTransport", "PullPolicy", "Response", "Transport"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rkt.fetch' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rkt.fetch.{module}"), name)
    globals()[name] = value
    return value
