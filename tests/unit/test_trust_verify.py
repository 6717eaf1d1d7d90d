"""``rkt.trust.verify``: good signatures pass; every other case is a SignatureError that names
the image and the reason (docs/security.md 12: signature checks fail closed)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from rkt.config import ConfigDirs
from rkt.errors import SignatureError
from rkt.trust import Keystore, verify
from rkt.trust.gpgv import dearmor
from tests.trustkit import Signer

NAME = "example.com/app"
DATA = b"pretend this is an ACI\n" * 1000


@pytest.fixture(scope="module")
def alice() -> Signer:
    return Signer.generate("Alice <alice@example.com>")


@pytest.fixture(scope="module")
def mallory() -> Signer:
    return Signer.generate("Mallory <mallory@example.net>")


@pytest.fixture
def dirs(tmp_path: Path) -> ConfigDirs:
    return ConfigDirs(system=tmp_path / "system", local=tmp_path / "local")


@pytest.fixture
def keystore(dirs: ConfigDirs) -> Keystore:
    return Keystore(dirs)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "app.aci"
    path.write_bytes(DATA)
    return path


def test_good_signature_returns_the_signer(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, image: Path
) -> None:
    path = alice.install(dirs.local, "example.com")
    key = verify(NAME, image, alice.sign(DATA), keystore)
    assert key.fingerprint == alice.fingerprint
    assert key.path == path
    assert key.prefix == "example.com"


def test_good_signature_by_root_key_from_system_dir(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, image: Path
) -> None:
    alice.install(dirs.system, root=True)
    assert verify(NAME, image, alice.sign(DATA), keystore).prefix is None


@pytest.mark.parametrize("kind", ["bytesio", "file", "unlinked"])
def test_data_as_file_object_is_read_from_its_start(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, image: Path, kind: str
) -> None:
    alice.install(dirs.local, NAME)
    signature = alice.sign(DATA)
    if kind == "bytesio":
        stream = io.BytesIO(DATA)
        stream.seek(100)
        assert verify(NAME, stream, signature, keystore).fingerprint == alice.fingerprint
        return
    with tempfile.TemporaryFile() if kind == "unlinked" else image.open("rb") as file:
        if kind == "unlinked":
            file.write(DATA)  # position at the end, as a fetcher leaves its download
        assert verify(NAME, file, signature, keystore).fingerprint == alice.fingerprint


def test_binary_signature_is_accepted_as_rkt_does(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, image: Path
) -> None:
    alice.install(dirs.local, NAME)
    assert verify(NAME, image, dearmor(alice.sign(DATA)), keystore).fingerprint == alice.fingerprint


# --- failures, each with its own message ---------------------------------------------------


def test_no_keys_trusted_for_the_name(keystore: Keystore, alice: Signer, image: Path) -> None:
    with pytest.raises(SignatureError) as caught:
        verify(NAME, image, alice.sign(DATA), keystore)
    assert caught.value.message == (
        f'image "{NAME}": no keys are trusted for it or for any prefix of its name'
    )
    assert f"rkt trust --prefix={NAME}" in caught.value.hint


def test_signed_by_untrusted_key(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, mallory: Signer, image: Path
) -> None:
    alice.install(dirs.local, "example.com")
    with pytest.raises(
        SignatureError,
        match=rf'image "{NAME}": signed by a key that is not trusted \(issuer [0-9A-F ]+\)',
    ):
        verify(NAME, image, mallory.sign(DATA), keystore)


def test_signed_by_key_trusted_for_another_prefix(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, mallory: Signer, image: Path
) -> None:
    alice.install(dirs.local, "example.com")
    mallory.install(dirs.local, "example.com/application")  # a string prefix, not a segment one
    with pytest.raises(
        SignatureError,
        match=r"signed by key [0-9A-F ]+, which is trusted only for prefix "
        r'"example\.com/application"',
    ):
        verify(NAME, image, mallory.sign(DATA), keystore)


def test_tampered_data(keystore: Keystore, dirs: ConfigDirs, alice: Signer, image: Path) -> None:
    alice.install(dirs.local, NAME)
    signature = alice.sign(DATA)
    image.write_bytes(DATA[:-1] + b"!")
    with pytest.raises(
        SignatureError, match=rf'image "{NAME}": the signature by key .* does not match'
    ):
        verify(NAME, image, signature, keystore)


def test_signature_of_other_bytes(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, image: Path
) -> None:
    alice.install(dirs.local, NAME)
    with pytest.raises(SignatureError, match="does not match the image's data"):
        verify(NAME, image, alice.sign(b"another image"), keystore)


def test_corrupt_armored_signature(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, image: Path
) -> None:
    alice.install(dirs.local, NAME)
    lines = alice.sign(DATA).splitlines(keepends=True)
    corrupt = b"".join(lines[:2] + lines[3:])  # drop a line of the base64 body
    with pytest.raises(SignatureError, match=rf'image "{NAME}": the signature is corrupt'):
        verify(NAME, image, corrupt, keystore)


@pytest.mark.parametrize("garbage", [b"not a signature at all", b"\x00\x01\x02"])
def test_garbage_signature(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, image: Path, garbage: bytes
) -> None:
    alice.install(dirs.local, NAME)
    with pytest.raises(SignatureError, match="the signature is corrupt"):
        verify(NAME, image, garbage, keystore)


@pytest.mark.parametrize("empty", [b"", b"\n  \n"])
def test_empty_signature(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, image: Path, empty: bytes
) -> None:
    alice.install(dirs.local, NAME)
    with pytest.raises(SignatureError, match=rf'image "{NAME}": the signature is missing'):
        verify(NAME, image, empty, keystore)


def test_public_key_is_not_a_signature(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, image: Path
) -> None:
    alice.install(dirs.local, NAME)
    with pytest.raises(SignatureError, match="the signature is corrupt"):
        verify(NAME, image, alice.public_key, keystore)


def test_masked_key_no_longer_verifies(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, image: Path
) -> None:
    alice.install(dirs.system, root=True)
    mask = dirs.local / "trustedkeys/root.d" / alice.fingerprint
    mask.parent.mkdir(parents=True)
    mask.write_bytes(b"")
    with pytest.raises(SignatureError, match="no keys are trusted"):
        verify(NAME, image, alice.sign(DATA), keystore)


def test_key_file_with_wrong_fingerprint_fails_closed(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, mallory: Signer, image: Path
) -> None:
    # Mallory's key under Alice's file name must not pass for Alice's.
    path = alice.install(dirs.local, NAME)
    path.write_bytes(mallory.public_key)
    with pytest.raises(SignatureError, match="not the one its file name says"):
        verify(NAME, image, mallory.sign(DATA), keystore)


def test_broken_trusted_key_file_fails_closed(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, image: Path
) -> None:
    alice.install(dirs.local, NAME).write_bytes(b"garbage")
    with pytest.raises(SignatureError, match=rf'image "{NAME}": trusted key .*{alice.fingerprint}'):
        verify(NAME, image, alice.sign(DATA), keystore)


def test_missing_data_file(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, tmp_path: Path
) -> None:
    alice.install(dirs.local, NAME)
    with pytest.raises(SignatureError, match=r"cannot read .*gone\.aci"):
        verify(NAME, tmp_path / "gone.aci", alice.sign(DATA), keystore)


def test_invalid_name(keystore: Keystore, alice: Signer, image: Path) -> None:
    with pytest.raises(SignatureError, match=r'image "Example\.com/App"'):
        verify("Example.com/App", image, alice.sign(DATA), keystore)


# --- the gpgv fallback ---------------------------------------------------------------------


@pytest.fixture
def without_pysequoia(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("gpgv") is None:
        pytest.skip("gpgv (GnuPG) is needed to test the fallback verifier")
    monkeypatch.setitem(sys.modules, "pysequoia", None)  # makes `import pysequoia` fail


def test_gpgv_fallback_good(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, image: Path, without_pysequoia: None
) -> None:
    alice.install(dirs.local, "example.com")
    signature = alice.sign(DATA)
    assert verify(NAME, image, signature, keystore).fingerprint == alice.fingerprint
    assert verify(NAME, io.BytesIO(DATA), signature, keystore).fingerprint == alice.fingerprint


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("tampered", "does not match the image's data"),
        ("untrusted", "not trusted for this image"),
        ("corrupt", "signature"),
    ],
)
def test_gpgv_fallback_fails_closed(
    keystore: Keystore,
    dirs: ConfigDirs,
    alice: Signer,
    mallory: Signer,
    image: Path,
    without_pysequoia: None,
    case: str,
    message: str,
) -> None:
    alice.install(dirs.local, "example.com")
    signature = {
        "tampered": alice.sign(b"other"),
        "untrusted": mallory.sign(DATA),
        "corrupt": b"-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n",
    }[case]
    with pytest.raises(SignatureError, match=message):
        verify(NAME, image, signature, keystore)


def test_verify_does_not_import_pysequoia_until_needed() -> None:
    probe = (
        "import sys, rkt.trust, rkt.trust.keystore, rkt.trust.signature;"
        "from rkt.config import ConfigDirs;"
        "from pathlib import Path;"
        "none = Path('/nonexistent');"
        "rkt.trust.Keystore(ConfigDirs(none, none)).keys_for('a.com');"
        "print('pysequoia' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
