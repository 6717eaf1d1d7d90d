"""The keystore: trusted public keys by image name prefix, on disk as rkt lays them out.

Under each config dir (pkg/keystore in rkt)::

    trustedkeys/root.d/<fingerprint>                      trusted for every image
    trustedkeys/prefix.d/<prefix>/<fingerprint>           trusted for <prefix> and below

``<prefix>`` is the AC Identifier itself, its path segments becoming nested directories
(``prefix.d/example.com/app/``), so one directory holds both the keys of its prefix and the
directories of longer prefixes. A file is named by the primary key's fingerprint in lower-case
hex and holds the ASCII-armored key. Keys are read from the system dir (/usr/lib/rkt, the
vendor's) and then the local dir (/etc/rkt, the administrator's); an empty file masks a key of
the same fingerprint read before it, which is how an administrator withdraws a vendor's key.
New keys are written to the local dir only.

Reading keys needs no OpenPGP parsing (names and bytes only), so ``rkt run`` of a stored image
does not load pysequoia; :mod:`rkt.trust.signature` parses what it is about to use.
"""

from __future__ import annotations

import builtins
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from rkt.errors import TrustError

if TYPE_CHECKING:
    from rkt.config import ConfigDirs

TRUSTED_KEYS = "trustedkeys"
ROOT_DIR = "root.d"
PREFIX_DIR = "prefix.d"

# v4 fingerprints are 20 bytes (40 hex digits), v6 ones 32 bytes.
_FINGERPRINT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_KEY_MODE = 0o644
_DIR_MODE = 0o755
# A temporary file older than this was left by a killed ``rkt trust``; none takes so long.
_STALE_TEMP_SECONDS = 3600.0


class TrustedKey(msgspec.Struct, frozen=True):
    """One trusted key file: ``prefix`` is ``None`` for a root key (trusted for all images)."""

    fingerprint: str
    path: Path
    prefix: str | None
    armored: bytes


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is an AC Identifier that is safe as a relative directory path.

    types.md lets an AC Identifier contain ``..`` and ``//``; as a directory those would make
    ``prefix.d/a/../../root.d`` land in root.d, turning a prefix key into a root key. So every
    segment must be a plain name.
    """
    from appc.errors import ValidationError
    from appc.schema.name import ac_identifier

    try:
        ac_identifier(prefix)
    except ValidationError as error:
        raise TrustError(f"prefix {prefix!r}: {error.message}") from error
    if any(part in ("", ".", "..") for part in prefix.split("/")):
        raise TrustError(
            f"prefix {prefix!r} has an empty, '.' or '..' path segment",
            hint='expected a name such as "example.com/app"',
        )
    return prefix


def prefixes_of(name: str) -> list[str]:
    """The prefixes of ``name`` on whole path segments, shortest first: ``a.com/b`` →
    ``["a.com", "a.com/b"]``. A prefix never ends inside a segment, so the key of
    ``example.com/app`` does not cover ``example.com/application`` (docs/security.md 12)."""
    parts = name.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]


class Keystore:
    """Trusted keys under the system and local config dirs of ``dirs`` (the user dir is not
    consulted, as in rkt)."""

    def __init__(self, dirs: ConfigDirs) -> None:
        self.dirs = dirs

    # --- reading -------------------------------------------------------------------------

    def _location(self, base: Path, prefix: str | None) -> Path:
        store = base / TRUSTED_KEYS
        if prefix is None:
            return store / ROOT_DIR
        return store.joinpath(PREFIX_DIR, *prefix.split("/"))

    def _scan(self, base: Path, prefix: str | None) -> Iterator[tuple[str, TrustedKey | None]]:
        """(fingerprint, key) for each key file directly in one location; ``None`` for a mask.

        A file whose name is not a fingerprint is an error rather than skipped: rkt fails the
        same way, and an administrator who dropped ``key.asc`` there should learn that it is not
        trusted. Dot files are our own temporary files (:meth:`add`).
        """
        directory = self._location(base, prefix)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as error:
            raise TrustError(f"{directory}: cannot list trusted keys: {error.strerror}") from error
        for entry in entries:
            if entry.name.startswith(".") or entry.is_dir():
                continue
            path = Path(entry.path)
            if not _FINGERPRINT.fullmatch(entry.name):
                raise TrustError(
                    f"{path}: not a trusted key file name",
                    hint="key files are named by the key's fingerprint in lower-case hex",
                )
            try:
                armored = path.read_bytes()
            except OSError as error:
                raise TrustError(f"{path}: cannot read trusted key: {error.strerror}") from error
            yield entry.name, (TrustedKey(entry.name, path, prefix, armored) if armored else None)

    def _merge(self, prefixes: builtins.list[str | None]) -> builtins.list[TrustedKey]:
        keys: dict[str, TrustedKey] = {}
        for prefix in prefixes:
            for base in (self.dirs.system, self.dirs.local):
                for fingerprint, key in self._scan(base, prefix):
                    # Later wins: local over system, longer prefix over shorter; an empty file
                    # withdraws the key (rkt's masking of vendor keys).
                    keys.pop(fingerprint, None)
                    if key is not None:
                        keys[fingerprint] = key
        return list(keys.values())

    def keys_for(self, name: str) -> builtins.list[TrustedKey]:
        """The keys trusted for image ``name``: root keys and those of each prefix of it."""
        check_prefix(name)
        return self._merge([None, *prefixes_of(name)])

    def list(self) -> builtins.list[TrustedKey]:
        """Every trusted key (root keys first, then by prefix), local overriding system."""
        prefixes: set[str] = set()
        for base in (self.dirs.system, self.dirs.local):
            top = base / TRUSTED_KEYS / PREFIX_DIR
            for directory, _, _ in os.walk(top):
                relative = Path(directory).relative_to(top).as_posix()
                if relative != ".":
                    prefixes.add(relative)
        result: builtins.list[TrustedKey] = []
        for prefix in [None, *sorted(prefixes)]:
            found: dict[str, TrustedKey | None] = {}
            for base in (self.dirs.system, self.dirs.local):
                found.update(self._scan(base, prefix))
            result += [key for _, key in sorted(found.items()) if key is not None]
        return result

    # --- writing -------------------------------------------------------------------------

    def add(
        self, armored: bytes, *, prefix: str | None, root: bool = False, source: str = "key"
    ) -> TrustedKey:
        """Trust the ASCII-armored public key ``armored`` for ``prefix`` (or, with ``root``,
        for every image), writing it to the local config dir; ``source`` names the key in
        errors. Content that is not exactly one public key is refused before anything is
        written."""
        from rkt.trust.openpgp import read_public_key

        if root == (prefix is not None):
            raise TrustError(
                "a key is trusted either for a prefix or as a root key",
                hint="give a prefix, or root=True without one",
            )
        if prefix is not None:
            check_prefix(prefix)
        key = read_public_key(armored, source)
        directory = self._location(self.dirs.local, prefix)
        _make_dirs(directory, self.dirs.local)
        path = directory / key.fingerprint
        _write_atomically(path, key.armored)
        return TrustedKey(key.fingerprint, path, prefix, key.armored)


def _make_dirs(directory: Path, base: Path) -> None:
    """Create ``directory`` and missing parents with mode 0755 whatever the umask: keys are
    public and rkt's readers may run as another user (rkt chmods the same way)."""
    missing: list[Path] = []
    for parent in [directory, *directory.parents]:
        if parent.exists():
            break
        missing.append(parent)
        if parent == base:
            break
    for path in reversed(missing):
        try:
            path.mkdir(mode=_DIR_MODE)
            os.chmod(path, _DIR_MODE)
        except FileExistsError:
            continue  # another ``rkt trust`` made it first
        except OSError as error:
            raise TrustError(f"{path}: cannot create directory: {error.strerror}") from error


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary name, fsync, rename, fsync the directory: a
    ``rkt trust`` killed at any moment leaves either the old file or the new one."""
    from rkt.atomicfile import write_atomically  # only writers pay for it

    _remove_stale_temporaries(path.parent)
    try:
        write_atomically(path, data, _KEY_MODE, sync_dir=True)
    except OSError as error:
        raise TrustError(f"{path}: cannot write key: {error.strerror}") from error


def _remove_stale_temporaries(directory: Path) -> None:
    cutoff = time.time() - _STALE_TEMP_SECONDS
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".tmp"):
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
            except OSError:
                continue
