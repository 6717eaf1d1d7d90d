"""Trust: which keys may sign which images, and checking an image's signature against them.

How the parts fit:

- :class:`Keystore` (``keystore``) is rkt's on-disk keystore, ``trustedkeys/root.d`` and
  ``trustedkeys/prefix.d/<prefix>`` under the system and local config dirs. It finds the
  :class:`TrustedKey` files for an image name (root keys plus the keys of every prefix of the
  name on whole path segments) and adds keys to the local dir atomically. Reading needs no
  OpenPGP parsing; adding parses the key first and refuses anything but one public key.
- :func:`verify` (``signature``) takes an image name, its data and a detached signature, asks
  the keystore for the keys trusted for that name, and returns the one that signed, or raises
  :class:`~rkt.errors.SignatureError` saying why not. ``rkt.fetch`` calls it before importing
  an image into the store.
- ``openpgp`` is the only module that imports pysequoia, and only inside its functions, so
  commands that verify nothing (``rkt image list``, ``rkt run`` of a stored image) never load
  it. ``gpgv`` is the fallback verifier for a system without pysequoia.
- ``pubkey`` gets keys for ``rkt trust``: from a file, an https URL, or the
  ``ac-discovery-pubkeys`` tags of a prefix through :mod:`appc.discovery`.

Errors: :class:`~rkt.errors.TrustError` for a key that cannot be read, fetched or stored;
its subclass :class:`~rkt.errors.SignatureError` for every failed verification.
"""

from rkt.trust.keystore import Keystore, TrustedKey
from rkt.trust.signature import verify

__all__ = ["Keystore", "TrustedKey", "verify"]
