"""``appc`` stands alone: importing all of it pulls in no ``rkt`` module and nothing outside the
standard library and msgspec."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import pkgutil, sys, importlib
import msgspec
msgspec.json.decode(msgspec.json.encode({"a": [1]}))
# What msgspec itself loads (typing_extensions when installed) is msgspec's business.
baseline = set(sys.modules)
import appc
before = set(sys.modules)
assert not [m for m in before if m == "rkt" or m.startswith("rkt.")], "import appc loaded rkt"
for info in pkgutil.walk_packages(appc.__path__, "appc."):
    importlib.import_module(info.name)
# Exercise the lazy imports too.
from appc.schema.image import ImageManifest
ImageManifest.from_json(b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a"}')
allowed = set(sys.stdlib_module_names) | {"appc", "msgspec"}
foreign = sorted(
    m for m in set(sys.modules) - baseline
    if m.split(".")[0] not in allowed and not m.startswith("_")
)
print("\\n".join(foreign))
"""


def test_appc_imports_only_stdlib_and_msgspec() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"appc imported foreign modules: {result.stdout}"


def test_import_appc_is_cheap() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, appc; print(len([m for m in sys.modules if m.startswith('appc')]))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    # Only the package itself: submodules load when used.
    assert result.stdout.strip() == "1"
