"""The services' systemd units (dist/): valid for systemd, and naming what the code uses."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rkt.metadata.client import DEFAULT_SOCKET

DIST = Path(__file__).resolve().parents[2] / "dist"
UNITS = ("rkt-metadata.socket", "rkt-metadata.service", "rkt-api-tcp.socket", "rkt-api.service")


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DIST / name).read_text())
    return parser


def test_units_name_the_code_s_paths_and_verbs() -> None:
    assert _unit("rkt-metadata.socket")["Socket"]["ListenStream"] == DEFAULT_SOCKET
    assert _unit("rkt-metadata.service")["Service"]["ExecStart"] == "/usr/bin/rkt metadata-service"
    assert _unit("rkt-api.service")["Service"]["ExecStart"] == "/usr/bin/rkt api-service"
    # The API has no authentication: its socket unit listens on loopback addresses only.
    api = (DIST / "rkt-api-tcp.socket").read_text()
    listens = [
        line.split("=", 1)[1] for line in api.splitlines() if line.startswith("ListenStream=")
    ]
    assert listens == ["127.0.0.1:15441", "[::1]:15441"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_units_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify``, with ExecStart pointing at this checkout's rkt."""
    rkt = Path(sys.executable).parent / "rkt"
    for name in UNITS:
        text = (DIST / name).read_text().replace("/usr/bin/rkt", str(rkt))
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / n) for n in UNITS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
