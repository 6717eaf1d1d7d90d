"""``rkt trust`` through ``rkt.cli.main``: flags, review, messages and exit codes as rkt 1.30.

No network: keys come from files, and URL cases use a transport function (the seam of
:mod:`appc.discovery`) that answers from a dict. The HTTPS cases are in
tests/integration/test_trust_http.py.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from appc.discovery import Response
from rkt.cli import trust as trust_cli
from rkt.cli.main import main
from rkt.config import Config, ConfigDirs
from rkt.errors import TrustError
from tests.trustkit import Signer


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate("Rocket Test <test@rocket.invalid>")


@pytest.fixture
def dirs(tmp_path: Path) -> ConfigDirs:
    return ConfigDirs(system=tmp_path / "system", local=tmp_path / "local")


@pytest.fixture
def key_file(tmp_path: Path, signer: Signer) -> Path:
    return signer.write_public_key(tmp_path / "pubkey.asc")


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))


def rkt(dirs: ConfigDirs, *args: str) -> int:
    return main(
        ["trust", "--local-config", str(dirs.local), "--system-config", str(dirs.system), *args]
    )


def local_keys(dirs: ConfigDirs) -> list[str]:
    base = dirs.local / "trustedkeys"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())


def test_trust_key_file_for_prefix(
    dirs: ConfigDirs, key_file: Path, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = rkt(dirs, "--prefix=example.com/app", "--skip-fingerprint-review", str(key_file))
    out = capsys.readouterr().out
    path = dirs.local / "trustedkeys/prefix.d/example.com/app" / signer.fingerprint
    assert code == 0
    assert path.read_bytes() == signer.public_key
    assert out.splitlines() == [
        'Prefix: "example.com/app"',
        f'Key: "{key_file}"',
        "GPG key fingerprint is: " + trust_cli_fingerprint(signer.fingerprint),
        *[line for line in out.splitlines() if line.startswith("    Subkey fingerprint: ")],
        "  Rocket Test <test@rocket.invalid>",
        f'Trusting "{key_file}" for prefix "example.com/app" without fingerprint review.',
        f'Added key for prefix "example.com/app" at "{path}"',
    ]


def trust_cli_fingerprint(fingerprint: str) -> str:
    groups = [fingerprint.upper()[i : i + 4] for i in range(0, 40, 4)]
    return " ".join(groups[:5]) + "  " + " ".join(groups[5:])


def test_trust_root_key(
    dirs: ConfigDirs, key_file: Path, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rkt(dirs, "--root", "--skip-fingerprint-review", str(key_file)) == 0
    path = dirs.local / "trustedkeys/root.d" / signer.fingerprint
    assert path.exists()
    assert f'Added root key at "{path}"' in capsys.readouterr().out
    assert not dirs.system.exists()


def test_refuses_without_review_when_stdin_is_not_a_terminal(
    dirs: ConfigDirs, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rkt(dirs, "--prefix=example.com", str(key_file)) == 254
    err = capsys.readouterr().err
    assert "trust: cannot ask to review the fingerprint of" in err
    assert "is not a terminal" in err
    assert "--skip-fingerprint-review" in err
    assert not dirs.local.exists()


def test_no_prefix_and_no_root_is_implicit_unbounded_trust(
    dirs: ConfigDirs, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rkt(dirs, "--skip-fingerprint-review", str(key_file)) == 254
    assert "aborting due to implicit unbounded trust" in capsys.readouterr().err
    assert not dirs.local.exists()


def test_no_arguments_prints_usage(dirs: ConfigDirs, capsys: pytest.CaptureFixture[str]) -> None:
    assert rkt(dirs) == 254
    assert capsys.readouterr().err.startswith("Usage: rkt trust")


def test_root_and_prefix_are_exclusive(
    dirs: ConfigDirs, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rkt(dirs, "--root", "--prefix=example.com", str(key_file)) == 254
    assert "--root and --prefix usage mutually exclusive" in capsys.readouterr().err


def test_root_needs_a_key(dirs: ConfigDirs, capsys: pytest.CaptureFixture[str]) -> None:
    assert rkt(dirs, "--root") == 254
    assert "root keys are never discovered" in capsys.readouterr().err


def test_prefix_with_scheme_is_refused(
    dirs: ConfigDirs, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rkt(dirs, "--prefix=https://example.com", str(key_file)) == 254
    assert "--prefix must not contain a URL scheme, omit https://" in capsys.readouterr().err


def test_invalid_prefix_is_refused(
    dirs: ConfigDirs, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        rkt(dirs, "--prefix=example.com/../root.d", "--skip-fingerprint-review", str(key_file))
        == 254
    )
    assert "trust: prefix 'example.com/../root.d'" in capsys.readouterr().err
    assert not dirs.local.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"garbage", "not an ASCII-armored OpenPGP public key"), (None, "cannot read key")],
)
def test_bad_key_file(
    dirs: ConfigDirs,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    message: str,
) -> None:
    path = tmp_path / "key.asc"
    if content is not None:
        path.write_bytes(content)
    assert rkt(dirs, "--prefix=example.com", "--skip-fingerprint-review", str(path)) == 254
    assert f"trust: {path}: {message}" in capsys.readouterr().err
    assert not dirs.local.exists()


def test_two_keys_in_one_file_are_both_trusted(
    dirs: ConfigDirs, tmp_path: Path, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    other = Signer.generate("Other <other@rocket.invalid>")
    path = tmp_path / "keys.asc"
    # Two armored blocks one after the other, as `cat a.asc b.asc` makes.
    path.write_bytes(signer.public_key + other.public_key)
    assert rkt(dirs, "--prefix=example.com", "--skip-fingerprint-review", str(path)) == 0
    assert local_keys(dirs) == sorted(
        f"prefix.d/example.com/{s.fingerprint}" for s in (signer, other)
    )
    assert capsys.readouterr().out.count("GPG key fingerprint is:") == 2


# --- URLs and discovery through a transport function (no sockets) -------------------------


def namespace(**overrides: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "prefix": "example.com",
        "root": False,
        "skip_fingerprint_review": False,
        "insecure_allow_http": False,
        "keys": [],
    }
    values.update(overrides)
    return argparse.Namespace(**values)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def served(pages: dict[str, bytes]) -> tuple[list[str], Callable[[str], Response]]:
    asked: list[str] = []

    def transport(url: str) -> Response:
        asked.append(url)
        if url in pages:
            return Response(200, url, pages[url])
        return Response(404, url, b"")

    return asked, transport


def test_plain_http_key_needs_insecure_allow_http(
    dirs: ConfigDirs, capsys: pytest.CaptureFixture[str]
) -> None:
    asked, transport = served({})
    args = namespace(keys=["http://example.com/key.asc"], skip_fingerprint_review=True)
    with pytest.raises(TrustError, match="refusing to fetch a key over plain http"):
        trust_cli.trust(args, Config(data_dir=Path("/x"), dirs=dirs), transport=transport)
    assert asked == []  # refused before any request


def test_trust_keys_from_https_skips_review(
    dirs: ConfigDirs, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "https://example.com/key.asc"
    asked, transport = served({url: signer.public_key})
    config = Config(data_dir=Path("/x"), dirs=dirs, trust_keys_from_https=True)
    code = trust_cli.trust(namespace(keys=[url]), config, transport=transport)
    assert code == 0
    assert asked == [url]
    assert f'Trusting "{url}" for prefix "example.com" without fingerprint review.' in (
        capsys.readouterr().out
    )


def test_discovered_key_reviewed_on_a_terminal(dirs: ConfigDirs, signer: Signer) -> None:
    page = b'<meta name="ac-discovery-pubkeys" content="example.com https://example.com/pub.asc">'
    asked, transport = served(
        {
            "https://example.com/app?ac-discovery=1": page,
            "https://example.com/pub.asc": signer.public_key,
        }
    )
    stdin = FakeTerminal("maybe\nyes\n")
    stdout = FakeTerminal()
    code = trust_cli.trust(
        namespace(prefix="example.com/app"),
        Config(data_dir=Path("/x"), dirs=dirs),
        transport=transport,
        stdin=stdin,
        stdout=stdout,
    )
    assert code == 0
    out = stdout.getvalue()
    assert "Are you sure you want to trust this key (yes/no)? Please enter 'yes' or 'no'" in out
    assert (
        'Trusting "https://example.com/pub.asc" for prefix "example.com/app" after fingerprint '
        "review." in out
    )
    assert local_keys(dirs) == [f"prefix.d/example.com/app/{signer.fingerprint}"]
    # Discovery walked up from the name to the level that announced the key.
    assert asked == [
        "https://example.com/app?ac-discovery=1",
        "https://example.com/pub.asc",
    ]


def test_answer_no_trusts_nothing(dirs: ConfigDirs, key_file: Path) -> None:
    stderr = io.StringIO()
    code = trust_cli.trust(
        namespace(keys=[str(key_file)]),
        Config(data_dir=Path("/x"), dirs=dirs),
        stdin=FakeTerminal("no\n"),
        stdout=FakeTerminal(),
        stderr=stderr,
    )
    assert code == 0
    assert f'not trusting "{key_file}"' in stderr.getvalue()
    assert not dirs.local.exists()


def test_discovery_without_keys_is_an_error(
    dirs: ConfigDirs, capsys: pytest.CaptureFixture[str]
) -> None:
    _, transport = served({"https://example.com?ac-discovery=1": b"<html></html>"})
    with pytest.raises(TrustError, match="key discovery failed"):
        trust_cli.trust(
            namespace(skip_fingerprint_review=True),
            Config(data_dir=Path("/x"), dirs=dirs),
            transport=transport,
        )
