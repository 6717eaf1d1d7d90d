"""``rkt.fetch`` is cheap to import: urllib3 loads only when a URL is fetched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE_IMPORT = """
import sys
import rkt.fetch
rkt.fetch.Fetcher, rkt.fetch.HttpTransport
import rkt.cli.fetch
print(sorted(m for m in ("urllib3", "pysequoia", "ssl", "sqlite3") if m in sys.modules))
"""

PROBE_FILE_FETCH = """
import json, os, sys
from pathlib import Path
import appc.aci
root = Path(sys.argv[1])
layout = root / "layout"
(layout / "rootfs").mkdir(parents=True)
(layout / "manifest").write_text(json.dumps(
    {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/app"}))
image_id = appc.aci.build(layout, root / "app.aci")
from rkt.cli.main import main
code = main([f"--dir={root / 'data'}", f"--local-config={root / 'local'}",
             f"--system-config={root / 'system'}", f"--user-config={root / 'user'}",
             "--insecure-options=image", "fetch", "--full", str(root / "app.aci")])
print(code, "urllib3" in sys.modules, file=sys.stderr)
"""


def run(probe: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True
    )


def test_import_loads_neither_http_nor_openpgp() -> None:
    assert run(PROBE_IMPORT).stdout.strip() == "[]"


def test_fetching_a_file_does_not_load_urllib3(tmp_path: Path) -> None:
    result = run(PROBE_FILE_FETCH, str(tmp_path))
    assert result.stdout.startswith("sha512-")
    assert result.stderr.strip().splitlines()[-1] == "0 False"
