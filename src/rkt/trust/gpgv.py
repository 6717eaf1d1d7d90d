"""The fallback verifier, used only when pysequoia cannot be imported: GnuPG's ``gpgv``.

gpgv reads binary keyrings only (GnuPG 2.2), so the trusted keys are de-armored into a
temporary keyring; it runs with a temporary home so that nothing of the user's GnuPG setup is
read or written. Its machine-readable status lines (``--status-fd``, doc/DETAILS in GnuPG) say
who signed: ``VALIDSIG`` ends with the primary key's fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from rkt.errors import SignatureError

if TYPE_CHECKING:
    from rkt.trust.keystore import TrustedKey


def dearmor(armored: bytes) -> bytes:
    """The binary packets of an ASCII-armored block (RFC 4880 §6.2): the base64 lines
    between the blank line after the headers and the checksum line."""
    lines = armored.decode("ascii", "replace").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("-----BEGIN PGP"))
        blank = next(i for i in range(start + 1, len(lines)) if not lines[i].strip())
    except StopIteration:
        raise ValueError("not an ASCII-armored block") from None
    body: list[str] = []
    for line in lines[blank + 1 :]:
        if line.startswith(("=", "-----END PGP")):
            break
        body.append(line.strip())
    try:
        return base64.b64decode("".join(body), validate=True)
    except binascii.Error as error:
        raise ValueError(f"bad base64 in armor: {error}") from error


def verify_with_gpgv(
    image: str, name: str, data: Path | BinaryIO, signature: bytes, trusted: list[TrustedKey]
) -> TrustedKey:
    """As :func:`rkt.trust.signature.verify`, with gpgv; the reasons are coarser."""
    from rkt.trust.openpgp import data_source

    gpgv = shutil.which("gpgv")
    if gpgv is None:
        raise SignatureError(
            f"{image}: cannot check the signature: neither pysequoia nor gpgv is installed",
            hint="install the pysequoia package, or GnuPG's gpgv",
        )
    with tempfile.TemporaryDirectory(prefix="rkt-gpgv-") as home:
        keyring = Path(home, "trusted.gpg")
        with open(keyring, "wb") as out:
            for key in trusted:
                try:
                    out.write(dearmor(key.armored))
                except ValueError as error:
                    raise SignatureError(f"{image}: trusted key {key.path}: {error}") from error
        sig_path = Path(home, "signature")
        sig_path.write_bytes(signature)
        path, content = data_source(data)
        if path is None:
            path = os.path.join(home, "data")
            Path(path).write_bytes(content or b"")
        result = subprocess.run(
            [gpgv, "--homedir", home, "--status-fd", "1", "--keyring", str(keyring),
             str(sig_path), path],
            capture_output=True,
            check=False,
        )  # fmt: skip
    status = [line.split() for line in result.stdout.splitlines()]
    for words in status:
        if result.returncode == 0 and words[:2] == [b"[GNUPG:]", b"VALIDSIG"]:
            fingerprint = words[-1].decode("ascii", "replace").lower()
            for key in trusted:
                if key.fingerprint == fingerprint:
                    return key
    keywords = {words[1] for words in status if len(words) > 1}
    hint = ""
    if b"BADSIG" in keywords:
        reason = "does not match the image's data (the image was altered, or it is of other data)"
    elif b"NO_PUBKEY" in keywords:
        reason = "was made by a key that is not trusted for this image"
        hint = f'after checking the signer, trust its key with "rkt trust --prefix={name}"'
    elif b"NODATA" in keywords:
        reason = "is corrupt"
    else:
        reason = "did not verify: " + " ".join(result.stderr.decode(errors="replace").split())
    raise SignatureError(f"{image}: the signature {reason}", hint=hint)
