"""Throwaway OpenPGP signers for tests: make a key pair, sign files, install trusted keys.

Import as ``tests.trustkit``. Keys are made with pysequoia (``Tsk.generate``: Ed25519 signing
subkey, v4 like rkt's keys) in about a millisecond, so each test can have its own; nothing
touches the user's GnuPG home. Typical use in a fetch test::

    from tests.trustkit import Signer

    signer = Signer.generate()                       # or Signer.generate("Bob <bob@x>")
    asc = signer.sign_file(aci_path)                 # writes <aci>.aci.asc, returns its path
    signer.install(local_config_dir, prefix="example.com/app")   # as `rkt trust` would
    # or: signer.install(local_config_dir, root=True)
    # or serve signer.public_key (armored bytes) and run `rkt trust --prefix=...`

``Signer`` attributes: ``fingerprint`` (primary key, lower-case hex, the key file's name),
``public_key`` (ASCII-armored public key bytes), ``user_id``. Methods: ``sign(data) -> bytes``
(armored detached signature), ``sign_file(path, out=None) -> Path``,
``write_public_key(path) -> Path``, ``install(config_dir, prefix=None, root=False) -> Path``
(writes ``trustedkeys/prefix.d/<prefix>/<fingerprint>`` or ``trustedkeys/root.d/<fingerprint>``
directly, without :class:`rkt.trust.Keystore`, so a test of the fetcher does not depend on the
code it is not testing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pysequoia


@dataclass(frozen=True)
class Signer:
    user_id: str
    fingerprint: str
    public_key: bytes
    secret: pysequoia.Tsk

    @classmethod
    def generate(cls, user_id: str = "Rocket Test <test@rocket.invalid>") -> Signer:
        secret = pysequoia.Tsk.generate(user_id)
        cert = secret.extract_certificate()
        return cls(user_id, cert.fingerprint.lower(), str(cert).encode(), secret)

    def sign(self, data: bytes) -> bytes:
        """An ASCII-armored detached signature of ``data``."""
        return pysequoia.sign(self.secret.signer(), data, mode=pysequoia.SignatureMode.DETACHED)

    def sign_file(self, path: Path, out: Path | None = None) -> Path:
        """Sign ``path``; the signature goes to ``out`` (default ``<path>.asc``)."""
        out = out or path.with_name(path.name + ".asc")
        out.write_bytes(self.sign(path.read_bytes()))
        return out

    def write_public_key(self, path: Path) -> Path:
        path.write_bytes(self.public_key)
        return path

    def install(self, config_dir: Path, prefix: str | None = None, *, root: bool = False) -> Path:
        """Put the public key into a keystore under ``config_dir`` (a --local-config or
        --system-config dir), trusted for ``prefix`` or, with ``root``, for all images."""
        if root == (prefix is not None):
            raise ValueError("give either a prefix or root=True")
        base = config_dir / "trustedkeys"
        if prefix is None:
            directory = base / "root.d"
        else:
            directory = base.joinpath("prefix.d", *prefix.split("/"))
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / self.fingerprint
        path.write_bytes(self.public_key)
        return path
