"""Image discovery (discovery.md): from an image name and labels to download URLs and keys.

How the parts fit:

- :class:`App` (``_app``) is what is being discovered: an AC Identifier name and labels,
  parsed from the command-line form ``example.com/app:1.0,os=linux``. Discovery fills in the
  labels the user left out: ``version=latest`` and the host's ``os`` and ``arch``.
- The walk (``_walk``) asks ``https://{prefix}?ac-discovery=1`` for the name, then for each
  parent path up to the host, until a page has what is sought. Plain HTTP is tried after
  HTTPS only with :attr:`Insecure.HTTP`. Levels that failed come back as :class:`Attempt`.
- Each page goes through ``_meta``, which collects ``<meta name="ac-...">`` tags anywhere in
  the HTML with the standard library's lenient parser.
- Tags whose prefix the name starts with are expanded by ``_template``: ``{name}``, every
  label, and ``{ext}`` as ``aci`` and ``aci.asc`` give an :class:`ACIEndpoint`; templates with
  a placeholder left unfilled are dropped, and the longest matching prefix wins.
- Pages are fetched through a :class:`Transport`: any callable from URL to :class:`Response`.
  :class:`UrllibTransport` is the default; tests pass a function or a transport with their
  own CA. ``urllib``, ``ssl`` and ``html.parser`` are imported only when discovery runs.

Errors: failures to discover raise :class:`~appc.errors.DiscoveryError` with the URLs tried;
an invalid name, label or app string raises :class:`~appc.errors.ValidationError`.
"""

from appc.discovery._app import DEFAULT_VERSION, App
from appc.discovery._template import ACIEndpoint, render_template
from appc.discovery._transport import Insecure, Response, Transport, UrllibTransport
from appc.discovery._walk import (
    Attempt,
    discover_aci_endpoints,
    discover_public_keys,
    discovery_url,
)

__all__ = [
    "DEFAULT_VERSION",
    "ACIEndpoint",
    "App",
    "Attempt",
    "Insecure",
    "Response",
    "Transport",
    "UrllibTransport",
    "discover_aci_endpoints",
    "discover_public_keys",
    "discovery_url",
    "render_template",
]
