"""``--insecure-options``: the security checks a user chose to turn off (rkt's names)."""

from __future__ import annotations

import enum

from rkt.errors import ConfigError


class Insecure(enum.Flag):
    NONE = 0
    #: do not require a valid signature on images
    IMAGE = enum.auto()
    #: do not verify TLS certificates
    TLS = enum.auto()
    #: allow plain HTTP for images, signatures and keys
    HTTP = enum.auto()
    #: trust keys fetched over HTTPS or from discovery without review
    PUBKEY = enum.auto()
    #: run-time relaxations, for the pod half of rkt
    CAPABILITIES = enum.auto()
    PATHS = enum.auto()
    SECCOMP = enum.auto()
    ONDISK = enum.auto()

    @classmethod
    def parse(cls, text: str) -> Insecure:
        """``image,tls`` → IMAGE|TLS; ``all-fetch``, ``all-run`` and ``all`` as rkt has them."""
        result = cls.NONE
        for word in filter(None, (w.strip() for w in text.split(","))):
            value = _GROUPS.get(word)
            if value is None:
                names = ", ".join(sorted(_GROUPS))
                raise ConfigError(f'unknown insecure option "{word}"', hint=f"expected {names}")
            result |= value
        return result


_ALL_FETCH = Insecure.IMAGE | Insecure.TLS | Insecure.HTTP | Insecure.PUBKEY
_ALL_RUN = Insecure.CAPABILITIES | Insecure.PATHS | Insecure.SECCOMP
_GROUPS: dict[str, Insecure] = {
    "none": Insecure.NONE,
    "image": Insecure.IMAGE,
    "tls": Insecure.TLS,
    "http": Insecure.HTTP,
    "pubkey": Insecure.PUBKEY,
    "capabilities": Insecure.CAPABILITIES,
    "paths": Insecure.PATHS,
    "seccomp": Insecure.SECCOMP,
    "ondisk": Insecure.ONDISK,
    "all-fetch": _ALL_FETCH,
    "all-run": _ALL_RUN,
    "all": _ALL_FETCH | _ALL_RUN | Insecure.ONDISK,
}
