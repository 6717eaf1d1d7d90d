"""Checking an image's detached signature against the keys trusted for its name.

Every way out of :func:`verify` other than returning the signer is a
:class:`~rkt.errors.SignatureError` whose message names the image and the reason: no key
trusted for the name, a signature by a key that is not trusted (or trusted only for another
prefix), a signature that does not match the data, a corrupt or empty signature, a trusted key
file that is itself broken. Nothing is ever let through for lack of a check (docs/security.md 12).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from rkt.errors import SignatureError, TrustError

if TYPE_CHECKING:
    from rkt.trust.keystore import Keystore, TrustedKey
    from rkt.trust.openpgp import PublicKey, SignatureInfo


def _trust_hint(name: str) -> str:
    return f'after checking the signer, trust its key with "rkt trust --prefix={name}"'


def verify(name: str, data: Path | BinaryIO, signature: bytes, keystore: Keystore) -> TrustedKey:
    """The trusted key that made ``signature``, a detached OpenPGP signature (armored, or
    binary as rkt also accepts) over the bytes of ``data``, for image ``name``.

    ``data`` is a path or a file object, which is read from its start. The keys considered are
    ``keystore.keys_for(name)``: root keys and those of every prefix of ``name`` on whole path
    segments. pysequoia checks the signature; if it cannot be imported, gpgv does.
    """
    image = f'image "{name}"'
    if not signature.strip():
        raise SignatureError(
            f"{image}: the signature is missing (empty)",
            hint="fetch the image's .asc signature, or pass --insecure-options=image to skip "
            "the check",
        )
    try:
        trusted = keystore.keys_for(name)
    except SignatureError:
        raise
    except TrustError as error:
        raise SignatureError(f"{image}: {error.message}", hint=error.hint) from error
    if not trusted:
        raise SignatureError(
            f"{image}: no keys are trusted for it or for any prefix of its name",
            hint=_trust_hint(name),
        )
    try:
        import pysequoia  # noqa: F401  (only probing whether it is installed)
    except ImportError:
        from rkt.trust.gpgv import verify_with_gpgv

        return verify_with_gpgv(image, name, data, signature, trusted)
    return _verify_with_sequoia(image, name, data, signature, trusted, keystore)


def _verify_with_sequoia(
    image: str,
    name: str,
    data: Path | BinaryIO,
    signature: bytes,
    trusted: list[TrustedKey],
    keystore: Keystore,
) -> TrustedKey:
    from rkt.trust.openpgp import read_signature, verify_detached

    try:
        info = read_signature(signature)
    except ValueError as error:
        raise SignatureError(f"{image}: the signature is corrupt: {error}") from error
    keys = [_parse_trusted(image, key) for key in trusted]
    try:
        fingerprint = verify_detached(data, signature, keys)
    except OSError as error:
        where = error.filename or data
        raise SignatureError(f"{image}: cannot read {where}: {error.strerror}") from error
    for key in trusted:
        if key.fingerprint == fingerprint:
            return key
    raise _explain(image, name, info, keys, keystore)


def _parse_trusted(image: str, key: TrustedKey) -> PublicKey:
    """A trusted key file, parsed; one that does not hold the key its name says fails the
    verification (as in rkt) rather than being skipped, so a damaged keystore is noticed."""
    from rkt.trust.openpgp import read_public_key

    try:
        parsed = read_public_key(key.armored, str(key.path))
    except TrustError as error:
        raise SignatureError(f"{image}: trusted key {error.message}", hint=error.hint) from error
    if parsed.fingerprint != key.fingerprint:
        raise SignatureError(
            f"{image}: trusted key {key.path} holds key {parsed.fingerprint}, "
            "not the one its file name says",
        )
    return parsed


def _explain(
    image: str, name: str, info: SignatureInfo, keys: list[PublicKey], keystore: Keystore
) -> SignatureError:
    """Why no trusted key verified the signature, from the issuer the signature names."""
    from rkt.trust.openpgp import format_fingerprint

    if not info.issuers:
        return SignatureError(
            f"{image}: the signature names no signer and no trusted key verifies it"
        )
    signer = next((key for key in keys if key.handles & info.issuers), None)
    if signer is not None:
        shown = format_fingerprint(signer.fingerprint)
        if signer.revoked:
            return SignatureError(f"{image}: signed by key {shown}, which has been revoked")
        if signer.expired():
            return SignatureError(f"{image}: signed by key {shown}, which has expired")
        return SignatureError(
            f"{image}: the signature by key {shown} does not match the image's data "
            "(the image was altered, or the signature is of other data)"
        )
    elsewhere = _trusted_elsewhere(info, keystore)
    if elsewhere is not None:
        return SignatureError(
            f"{image}: signed by key {format_fingerprint(elsewhere.fingerprint)}, which is "
            f'trusted only for prefix "{elsewhere.prefix}", not for this image',
            hint=_trust_hint(name),
        )
    issuer = max(info.issuers, key=len)  # a fingerprint over a short key ID
    return SignatureError(
        f"{image}: signed by a key that is not trusted (issuer {format_fingerprint(issuer)})",
        hint=_trust_hint(name),
    )


def _trusted_elsewhere(info: SignatureInfo, keystore: Keystore) -> TrustedKey | None:
    """A key of the keystore trusted for some other prefix that made the signature. Best
    effort, for the message only: unreadable key files elsewhere are passed over here."""
    from rkt.trust.openpgp import read_public_key

    try:
        candidates = keystore.list()
    except TrustError:
        return None
    for key in candidates:
        try:
            parsed = read_public_key(key.armored, str(key.path))
        except TrustError:
            continue
        if parsed.handles & info.issuers:
            return key
    return None
