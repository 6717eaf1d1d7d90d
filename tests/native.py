"""The compiled stage1 program for tests: the package build's, and a sanitizer build.

``sanitized()`` compiles native/*.c once more with AddressSanitizer and UndefinedBehaviorSanitizer
(every report fatal), as the C part is held to; the pod tests run against it when
``RKT_STAGE1_BINARY`` names it (scripts/test.sh does, for the pod test files).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "src/rkt/stage1/executor/native"
SANITIZERS = [
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
    "-g",
]
#: The sanitizers' runtime options: fail loudly; no leak check (LeakSanitizer needs /proc and
#: ptrace, which PID 1 gives up when it pivots into its empty root, and a program that only
#: exits frees nothing worth checking).
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=99",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=99",
}


def program() -> Path:
    from rkt.stage1.executor.planfile import PROGRAM

    return PROGRAM


def compile_sanitized(out: Path) -> Path:
    """rkt-stage1 with ASan and UBSan at ``out`` (made once; gcc's runtime libraries)."""
    if not out.exists():
        cc = shutil.which(os.environ.get("CC", "cc")) or "cc"
        sources = sorted(str(p) for p in SOURCES.glob("*.c"))
        flags = ["-std=c17", "-O1", "-Wall", "-Wextra", "-Werror", *SANITIZERS]
        subprocess.run([cc, *flags, "-o", str(out), *sources], check=True)
    return out
