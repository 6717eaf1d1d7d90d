"""The only module that talks to pysequoia: reading public keys and checking detached signatures.

pysequoia is a compiled extension that takes a few milliseconds to load, so it is imported
inside the functions here, never at module level: ``rkt image list`` and ``rkt run`` of a
stored image must not pay for it. Its errors are ``RuntimeError``
carrying a Rust backtrace when ``RUST_BACKTRACE`` is set; :func:`_first_line` keeps the part
a user can act on.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import msgspec

from rkt.errors import TrustError

if TYPE_CHECKING:
    import pysequoia

ARMOR_PUBLIC_KEY = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
ARMOR_SECRET_KEY = b"-----BEGIN PGP PRIVATE KEY BLOCK-----"


class PublicKey(msgspec.Struct, frozen=True):
    """What rkt shows and checks about one certificate.

    ``fingerprint`` is the primary key's, in lower-case hex as rkt names key files;
    ``handles`` are the fingerprints and key IDs of the primary key and every subkey, which
    is what a signature may name as its issuer.
    """

    fingerprint: str
    user_ids: tuple[str, ...]
    subkeys: tuple[str, ...]
    handles: frozenset[str]
    armored: bytes
    revoked: bool = False
    expiration: datetime | None = None

    def expired(self, now: datetime | None = None) -> bool:
        return self.expiration is not None and self.expiration <= (now or datetime.now(UTC))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0].strip() if text else type(error).__name__


def format_fingerprint(fingerprint: str) -> str:
    """``8B86 DE38 890D DB72 9186  7B02 5210 BD88 8818 2190``: gpg's (and rkt's) display form,
    groups of four with a wider gap in the middle, easier to compare by eye than a hex run."""
    upper = fingerprint.upper()
    groups = [upper[i : i + 4] for i in range(0, len(upper), 4)]
    half = len(groups) // 2
    return " ".join(groups[:half]) + "  " + " ".join(groups[half:])


def _describe(cert: pysequoia.Cert, armored: bytes) -> PublicKey:
    from pysequoia.packet import PacketPile, Tag

    primary = cert.fingerprint.lower()
    subkeys: list[str] = []
    handles: set[str] = set()
    for packet in PacketPile.from_bytes(bytes(cert)):
        fingerprint = packet.fingerprint
        if fingerprint is None:
            continue
        handles.add(fingerprint.lower())
        if packet.key_id:
            handles.add(packet.key_id.lower())
        if packet.tag == Tag.PublicSubkey:
            subkeys.append(fingerprint.lower())
    return PublicKey(
        fingerprint=primary,
        user_ids=tuple(str(uid) for uid in cert.user_ids),
        subkeys=tuple(subkeys),
        handles=frozenset(handles),
        armored=armored,
        revoked=cert.is_revoked,
        expiration=cert.expiration,
    )


def read_public_keys(data: bytes, source: str) -> list[PublicKey]:
    """Every certificate in an ASCII-armored public key block, in order.

    rkt reads key files with ``openpgp.ReadArmoredKeyRing``, so binary keys are refused here
    too: a key file that rkt could not read must not enter a keystore it shares. Secret keys
    are refused because key files are world-readable (0644). With one certificate, ``armored``
    is the text as given, as rkt stores it; with several, each is re-armored on its own, since a
    key file holds exactly one key (rkt trusts only the first of a file).
    """
    import pysequoia
    from pysequoia.packet import PacketPile, Tag

    secret = TrustError(
        f"{source}: holds secret key material, refusing to store it",
        hint="export only the public key (gpg --export --armor)",
    )
    if ARMOR_SECRET_KEY in data:
        raise secret
    if not data.lstrip().startswith(ARMOR_PUBLIC_KEY):
        raise TrustError(
            f"{source}: not an ASCII-armored OpenPGP public key",
            hint='expected a "-----BEGIN PGP PUBLIC KEY BLOCK-----" file; '
            "convert a binary key with gpg --export --armor",
        )
    try:
        # Certificates drop secret parts when re-encoded, so the packets as given are checked.
        if any(p.tag in (Tag.SecretKey, Tag.SecretSubkey) for p in PacketPile.from_bytes(data)):
            raise secret
        certs = pysequoia.Cert.split_bytes(data)
    except (RuntimeError, ValueError) as error:
        raise TrustError(
            f"{source}: not a valid OpenPGP public key: {_first_line(error)}"
        ) from error
    if not certs:
        raise TrustError(f"{source}: holds no OpenPGP public key")
    if len(certs) == 1:
        return [_describe(certs[0], data)]
    return [_describe(cert, str(cert).encode()) for cert in certs]


def read_public_key(data: bytes, source: str) -> PublicKey:
    """The single certificate of a key file; several in one file are an error."""
    keys = read_public_keys(data, source)
    if len(keys) != 1:
        raise TrustError(f"{source}: holds {len(keys)} keys, expected exactly one")
    return keys[0]


class SignatureInfo(msgspec.Struct, frozen=True):
    """The issuers a detached signature names (fingerprints and key IDs, lower-case)."""

    issuers: frozenset[str]


def read_signature(signature: bytes) -> SignatureInfo:
    """Parse a detached signature (armored or binary, as rkt accepts both); ``ValueError``
    with a one-line reason if it is not one."""
    import pysequoia

    try:
        sig = pysequoia.Sig.from_bytes(signature)
    except (RuntimeError, ValueError) as error:
        raise ValueError(_first_line(error)) from error
    issuers = {h.lower() for h in (sig.issuer_fingerprint, sig.issuer_key_id) if h}
    return SignatureInfo(frozenset(issuers))


def data_source(data: Path | BinaryIO) -> tuple[str | None, bytes | None]:
    """How to hand ``data`` to the verifier: a path to open, or the bytes themselves.

    A file object is verified from its start. Images are large, so a regular file is passed by
    path, through ``/proc/self/fd`` for a file object (which also reaches a temporary file that
    was already unlinked); only other streams are read into memory.
    """
    if isinstance(data, Path):
        return str(data), None
    try:
        fd = data.fileno()
        if stat.S_ISREG(os.fstat(fd).st_mode) and os.path.exists(f"/proc/self/fd/{fd}"):
            return f"/proc/self/fd/{fd}", None
    except (OSError, ValueError, AttributeError):
        pass
    if data.seekable():
        data.seek(0)
    return None, data.read()


def verify_detached(
    data: Path | BinaryIO, signature: bytes, keys: Sequence[PublicKey]
) -> str | None:
    """The primary fingerprint of the key in ``keys`` that made a valid ``signature`` over
    ``data``, or ``None`` when none did (the caller says why)."""
    import pysequoia

    certs = [pysequoia.Cert.from_bytes(key.armored) for key in keys]
    sig = pysequoia.Sig.from_bytes(signature)
    path, content = data_source(data)
    if path is not None:
        # sequoia reports an unreadable file as one more RuntimeError; opening it here first
        # turns that case into an OSError the caller can name, instead of "not signed".
        with open(path, "rb"):
            pass

    # The callback receives the issuer handles; sequoia itself picks the matching (sub)key
    # from what we return and checks its binding, expiry and revocation under its policy.
    def store(handles: list[str]) -> list[pysequoia.Cert]:
        del handles
        return certs

    try:
        if path is not None:
            result = pysequoia.verify(file=path, store=store, signature=sig)
        else:
            result = pysequoia.verify(bytes=content, store=store, signature=sig)
    except RuntimeError:
        return None
    for valid in result.valid_sigs:
        fingerprint = str(valid.certificate).lower()
        if any(key.fingerprint == fingerprint for key in keys):
            return fingerprint
    return None
