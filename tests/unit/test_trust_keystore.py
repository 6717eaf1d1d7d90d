"""The keystore: rkt's on-disk layout, prefix matching on whole segments, atomic adds."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rkt.config import ConfigDirs
from rkt.errors import TrustError
from rkt.trust import Keystore, TrustedKey
from rkt.trust.keystore import check_prefix, prefixes_of
from tests.trustkit import Signer


@pytest.fixture
def dirs(tmp_path: Path) -> ConfigDirs:
    return ConfigDirs(system=tmp_path / "usr-lib-rkt", local=tmp_path / "etc-rkt")


@pytest.fixture
def keystore(dirs: ConfigDirs) -> Keystore:
    return Keystore(dirs)


@pytest.fixture(scope="module")
def alice() -> Signer:
    return Signer.generate("Alice <alice@example.com>")


@pytest.fixture(scope="module")
def bob() -> Signer:
    return Signer.generate("Bob <bob@example.com>")


def fingerprints(keys: list[TrustedKey]) -> set[str]:
    return {key.fingerprint for key in keys}


# --- layout -------------------------------------------------------------------------------


def test_prefix_key_goes_to_nested_prefix_dirs_in_local(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer
) -> None:
    key = keystore.add(alice.public_key, prefix="example.com/app")
    expected = dirs.local / "trustedkeys/prefix.d/example.com/app" / alice.fingerprint
    assert key == TrustedKey(alice.fingerprint, expected, "example.com/app", alice.public_key)
    assert expected.read_bytes() == alice.public_key
    assert stat.S_IMODE(expected.stat().st_mode) == 0o644
    assert stat.S_IMODE(expected.parent.stat().st_mode) == 0o755
    assert not dirs.system.exists()  # nothing is ever written to the vendor's dir


def test_root_key_goes_to_root_d(keystore: Keystore, dirs: ConfigDirs, alice: Signer) -> None:
    key = keystore.add(alice.public_key, prefix=None, root=True)
    assert key.path == dirs.local / "trustedkeys/root.d" / alice.fingerprint
    assert key.prefix is None


def test_fingerprint_is_lower_case_hex_of_primary_key(alice: Signer) -> None:
    assert len(alice.fingerprint) == 40
    assert alice.fingerprint == alice.fingerprint.lower()
    int(alice.fingerprint, 16)


def test_key_placed_by_hand_as_rkt_documents_is_found(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer
) -> None:
    path = dirs.local / "trustedkeys/prefix.d/coreos.com/etcd" / alice.fingerprint
    path.parent.mkdir(parents=True)
    path.write_bytes(alice.public_key)
    assert keystore.keys_for("coreos.com/etcd") == [
        TrustedKey(alice.fingerprint, path, "coreos.com/etcd", alice.public_key)
    ]


def test_dirs_are_0755_whatever_the_umask(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer
) -> None:
    old = os.umask(0o077)
    try:
        key = keystore.add(alice.public_key, prefix="a.com/b")
    finally:
        os.umask(old)
    for directory in (key.path.parent, key.path.parent.parent, dirs.local / "trustedkeys"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o755
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o644


# --- prefix matching ----------------------------------------------------------------------


def test_prefixes_are_whole_segments() -> None:
    assert prefixes_of("example.com/app/x") == [
        "example.com",
        "example.com/app",
        "example.com/app/x",
    ]


@pytest.mark.parametrize(
    ("trusted", "name", "covered"),
    [
        ("example.com", "example.com/app", True),
        ("example.com", "example.com", True),
        ("example.com/app", "example.com/app", True),
        ("example.com/app", "example.com/app/sub", True),
        ("example.com/app", "example.com/application", False),
        ("example.com/app", "example.com", False),
        ("example.com", "example.community/app", False),
        ("example.com/app", "other.com/example.com/app", False),
    ],
)
def test_keys_for_matches_whole_segments(
    keystore: Keystore, alice: Signer, trusted: str, name: str, covered: bool
) -> None:
    keystore.add(alice.public_key, prefix=trusted)
    assert fingerprints(keystore.keys_for(name)) == ({alice.fingerprint} if covered else set())


def test_root_keys_cover_every_name(keystore: Keystore, alice: Signer) -> None:
    keystore.add(alice.public_key, prefix=None, root=True)
    assert fingerprints(keystore.keys_for("anything.org/at/all")) == {alice.fingerprint}


def test_system_and_local_are_merged(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, bob: Signer
) -> None:
    alice.install(dirs.system, "example.com")
    keystore.add(bob.public_key, prefix="example.com/app")
    keys = keystore.keys_for("example.com/app")
    assert fingerprints(keys) == {alice.fingerprint, bob.fingerprint}
    by_fingerprint = {key.fingerprint: key for key in keys}
    assert by_fingerprint[alice.fingerprint].path.is_relative_to(dirs.system)
    assert by_fingerprint[bob.fingerprint].path.is_relative_to(dirs.local)


def test_local_overrides_system_and_empty_file_masks(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer
) -> None:
    alice.install(dirs.system, root=True)
    local = alice.install(dirs.local, root=True)
    [key] = keystore.keys_for("example.com/app")
    assert key.path == local
    # An administrator withdraws a vendor's key with an empty file of the same name (rkt).
    local.write_bytes(b"")
    assert keystore.keys_for("example.com/app") == []
    assert keystore.list() == []


def test_list_returns_every_key(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer, bob: Signer
) -> None:
    alice.install(dirs.system, root=True)
    keystore.add(bob.public_key, prefix="example.com/app")
    keystore.add(alice.public_key, prefix="example.com")
    listed = [(key.prefix, key.fingerprint) for key in keystore.list()]
    assert listed == [
        (None, alice.fingerprint),
        ("example.com", alice.fingerprint),
        ("example.com/app", bob.fingerprint),
    ]


def test_missing_config_dirs_mean_no_keys(keystore: Keystore) -> None:
    assert keystore.keys_for("example.com/app") == []
    assert keystore.list() == []


def test_file_not_named_by_fingerprint_is_an_error(keystore: Keystore, dirs: ConfigDirs) -> None:
    stray = dirs.local / "trustedkeys/prefix.d/example.com/key.asc"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"x")
    with pytest.raises(TrustError, match=r"key\.asc: not a trusted key file name"):
        keystore.keys_for("example.com/app")


def test_temporary_files_are_ignored(keystore: Keystore, dirs: ConfigDirs, alice: Signer) -> None:
    path = alice.install(dirs.local, "example.com")
    (path.parent / f".{alice.fingerprint}.abc.tmp").write_bytes(b"half a key")
    assert fingerprints(keystore.keys_for("example.com")) == {alice.fingerprint}


# --- names and prefixes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix", ["Example.com", "example.com/", "/example.com", "a/../../root.d", "a//b", "a/./b", ""]
)
def test_unsafe_or_invalid_prefix_is_refused(
    keystore: Keystore, alice: Signer, prefix: str
) -> None:
    with pytest.raises(TrustError, match="prefix"):
        keystore.add(alice.public_key, prefix=prefix)
    with pytest.raises(TrustError):
        check_prefix(prefix)


def test_traversal_prefix_cannot_become_a_root_key(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer
) -> None:
    with pytest.raises(TrustError):
        keystore.add(alice.public_key, prefix="x/../../root.d")
    assert not (dirs.local / "trustedkeys/root.d").exists()


def test_root_and_prefix_are_exclusive(keystore: Keystore, alice: Signer) -> None:
    with pytest.raises(TrustError):
        keystore.add(alice.public_key, prefix="example.com", root=True)
    with pytest.raises(TrustError):
        keystore.add(alice.public_key, prefix=None)


# --- refusing what is not one public key --------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not an ASCII-armored OpenPGP public key"),
        (b"garbage\n", "not an ASCII-armored OpenPGP public key"),
        (
            b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n",
            "not a valid OpenPGP public key",
        ),
    ],
)
def test_garbage_is_refused_and_nothing_written(
    keystore: Keystore, dirs: ConfigDirs, content: bytes, message: str
) -> None:
    with pytest.raises(TrustError, match=message):
        keystore.add(content, prefix="example.com", source="k.asc")
    assert not dirs.local.exists()


def test_binary_key_is_refused(keystore: Keystore) -> None:
    import pysequoia

    binary = bytes(pysequoia.Cert.from_bytes(Signer.generate().public_key))
    with pytest.raises(TrustError, match="ASCII-armored"):
        keystore.add(binary, prefix="example.com")


def test_secret_key_is_refused(keystore: Keystore, dirs: ConfigDirs, alice: Signer) -> None:
    import pysequoia

    with pytest.raises(TrustError, match="secret key material"):
        keystore.add(str(alice.secret).encode(), prefix="example.com")
    # Secret packets under a public key header are caught too.
    disguised = pysequoia.armor(bytes(alice.secret), pysequoia.ArmorKind.PublicKey).encode()
    with pytest.raises(TrustError, match="secret key material"):
        keystore.add(disguised, prefix="example.com")
    assert not dirs.local.exists()


def test_two_keys_in_one_add_are_refused(keystore: Keystore, alice: Signer, bob: Signer) -> None:
    import pysequoia

    both = pysequoia.Cert.split_bytes(alice.public_key + bob.public_key)
    armored = pysequoia.armor(b"".join(bytes(c) for c in both), pysequoia.ArmorKind.PublicKey)
    with pytest.raises(TrustError, match="holds 2 keys"):
        keystore.add(armored.encode(), prefix="example.com")


# --- atomic writes ------------------------------------------------------------------------


def test_add_replaces_atomically_and_leaves_no_temporary(
    keystore: Keystore, alice: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = keystore.add(alice.public_key, prefix="example.com")
    renames: list[tuple[str, str]] = []
    real_rename = os.rename

    def recording_rename(src: str, dst: str) -> None:
        renames.append((str(src), str(dst)))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", recording_rename)
    second = keystore.add(alice.public_key, prefix="example.com")
    assert second.path == first.path
    [(src, dst)] = renames
    assert Path(src).parent == first.path.parent and Path(src).name.startswith(".")
    assert dst == str(first.path)
    assert sorted(os.listdir(first.path.parent)) == [alice.fingerprint]


def test_failed_write_leaves_old_key_and_no_temporary(
    keystore: Keystore, alice: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = keystore.add(alice.public_key, prefix="example.com")

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(TrustError, match="No space left on device"):
        keystore.add(alice.public_key, prefix="example.com")
    assert key.path.read_bytes() == alice.public_key
    assert os.listdir(key.path.parent) == [alice.fingerprint]


def test_stale_temporary_of_a_killed_trust_is_cleaned(keystore: Keystore, alice: Signer) -> None:
    key = keystore.add(alice.public_key, prefix="example.com")
    stale = key.path.parent / f".{alice.fingerprint}.x1y2.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (0, 0))
    keystore.add(alice.public_key, prefix="example.com")
    assert not stale.exists()


def test_unwritable_config_dir_is_a_clear_error(
    keystore: Keystore, dirs: ConfigDirs, alice: Signer
) -> None:
    # A file where the directory should be fails for root too, unlike a read-only mode.
    dirs.local.write_bytes(b"")
    with pytest.raises(TrustError, match=rf"{dirs.local}/trustedkeys: cannot create directory"):
        keystore.add(alice.public_key, prefix="example.com")
