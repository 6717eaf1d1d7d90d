"""Checks on a downloaded image before it may enter the store (docs/security.md 4 and 12).

The manifest is read from the downloaded file (it comes first in an ACI, so this is cheap),
its name and labels are compared with what was asked for when the image was found through
discovery (rkt's ``ValidateName``/``ValidateLabels``; rkt#776: an image must be stored under
the name it was fetched by only if it carries that name), and the detached signature is
checked over the file's bytes with :func:`rkt.trust.verify`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from rkt.errors import FetchError, SignatureError

if TYPE_CHECKING:
    from appc.discovery import App
    from appc.schema.image import ImageManifest
    from rkt.trust import Keystore, TrustedKey


def image_manifest(file: BinaryIO, where: str) -> ImageManifest:
    from appc.aci import read_manifest
    from appc.errors import AppcError

    file.seek(0)
    try:
        _raw, manifest = read_manifest(file)
    except AppcError as error:
        raise FetchError(f"{where}: not a valid image: {error}") from error
    return manifest


def check_identity(manifest: ImageManifest, app: App) -> None:
    """The image must be the one asked for: same name, and every label asked for with the
    same value. ``version=latest`` asks for whatever discovery calls latest, so it is not
    compared."""
    if manifest.name != app.name:
        raise FetchError(
            f'image name mismatch: "{app.name}" was asked for but the image is named '
            f'"{manifest.name}"'
        )
    have = {label.name: label.value for label in manifest.labels}
    for key, value in app.labels.items():
        if key == "version" and value == "latest":
            continue
        if key not in have:
            raise FetchError(f'image "{app.name}": requested label "{key}" is not in the manifest')
        if have[key] != value:
            raise FetchError(
                f'image "{app.name}": requested {key}="{value}" but the image has '
                f'{key}="{have[key]}"'
            )


def verify_image(
    file: BinaryIO,
    signature: bytes | None,
    *,
    app: App | None,
    where: str,
    keystore: Keystore,
    required: bool,
) -> TrustedKey | None:
    """Check identity (for discovered images) and, if ``required``, the signature; the key
    that signed, or ``None`` when no check was required."""
    from rkt.trust import verify

    manifest = image_manifest(file, where)
    if app is not None:
        check_identity(manifest, app)
    if not required:
        return None
    if signature is None:
        # Fail closed: with verification on, no caller may get here without a signature.
        raise SignatureError(f"{where}: no signature to verify the image with")
    file.seek(0)
    return verify(manifest.name, file, signature, keystore)
