"""The pods registered with the metadata service, in memory and nowhere else (as rkt's).

A pod is found by its token, and is the requester only if the request comes from one of the
addresses it registered (its addresses on its CNI networks). A pod registered without
addresses (``--net=host``: it shares the host's) is identified by its token alone. The HMAC
key that signs for every pod is made when the registry is, and never leaves it: signatures
are HMAC-SHA512 over the pod UUID's 16 bytes followed by the content (rkt's construction), so
one pod's signature is checkable by any other with the UUID, even after the signer ended.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
import uuid as uuidlib
from collections.abc import Iterable, Mapping

import msgspec

__all__ = ["Address", "RegisteredPod", "Registry", "parse_address"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_KEY_BYTES = 64  # sha512's block is larger; its output size is what rkt used


def parse_address(text: str) -> Address:
    """An address as a socket reports it; IPv4-mapped IPv6 addresses become IPv4 (a dual-stack
    listener sees pods on IPv4 networks that way)."""
    address = ipaddress.ip_address(text.partition("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class RegisteredPod(msgspec.Struct, frozen=True):
    uuid: str
    token: str
    addresses: frozenset[Address]
    manifest: bytes
    #: image manifests by app name, as registered
    apps: Mapping[str, bytes] = msgspec.field(default_factory=dict)


class Registry:
    """Thread-safe: the HTTP servers answer each request on a thread of its own."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(_KEY_BYTES)
        self._lock = threading.Lock()
        self._by_uuid: dict[str, RegisteredPod] = {}
        self._by_token: dict[str, str] = {}

    def add_pod(self, uuid: str, token: str, addresses: Iterable[Address], manifest: bytes) -> None:
        """Register (or register again, replacing what was there) a pod; its apps come next."""
        pod = RegisteredPod(uuid, token, frozenset(addresses), manifest)
        with self._lock:
            old = self._by_uuid.pop(uuid, None)
            if old is not None:
                self._by_token.pop(old.token, None)
            taken = self._by_token.get(token)
            if taken is not None:  # 128 random bits do not collide; a caller reusing one did
                raise ValueError("token already in use by another pod")
            self._by_uuid[uuid] = pod
            self._by_token[token] = uuid

    def add_app(self, uuid: str, app: str, manifest: bytes) -> bool:
        """Attach an app's image manifest; false if the pod is not registered."""
        with self._lock:
            pod = self._by_uuid.get(uuid)
            if pod is None:
                return False
            self._by_uuid[uuid] = msgspec.structs.replace(pod, apps={**pod.apps, app: manifest})
            return True

    def remove(self, uuid: str) -> bool:
        with self._lock:
            pod = self._by_uuid.pop(uuid, None)
            if pod is None:
                return False
            self._by_token.pop(pod.token, None)
            return True

    def identify(self, token: str, peer: Address | None) -> RegisteredPod | None:
        """The pod that ``token`` and the requester's address ``peer`` name together."""
        with self._lock:
            uuid = self._by_token.get(token)
            pod = self._by_uuid.get(uuid) if uuid is not None else None
        if pod is None:
            return None
        if pod.addresses and peer not in pod.addresses:
            return None
        return pod

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_uuid)

    def sign(self, uuid: str, content: bytes) -> bytes:
        """The pod's HMAC-SHA512 signature of ``content`` (raw bytes)."""
        mac = hmac.new(self._key, uuidlib.UUID(uuid).bytes, hashlib.sha512)
        mac.update(content)
        return mac.digest()

    def verify(self, uuid: str, content: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(self.sign(uuid, content), signature)
