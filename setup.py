"""The package build's one compiled step: the pod's monitor and PID 1 (rkt-stage1), in C.

setuptools stays the build backend: the program is an executable, not an extension module, so
it is compiled here with the system's C compiler (``CC``, default ``cc``) into the package, for
wheels, regular and editable installs alike. meson-python and scikit-build-core are well kept
and would do it too, but both bring a build system of their own, and their editable installs
hook into every import (a rebuild check or a meta path finder) of a CLI that schedulers start
in loops; one compiler call needs neither.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

SOURCES = Path("src/rkt/stage1/executor/native")
PROGRAM = "rkt/stage1/executor/rkt-stage1"
#: C17, libc only, every warning an error (DESIGN.md); static so that the pod's PID 1 needs
#: nothing from the host's filesystem once it runs in the pod's.
FLAGS = ["-std=c17", "-O2", "-Wall", "-Wextra", "-Werror", "-D_FORTIFY_SOURCE=2"]


def compile_program(out: Path, extra: list[str] | None = None) -> None:
    """Compile rkt-stage1 to ``out``: with musl when it is installed (``musl-gcc``, and ``CC``
    unset), else statically with the C library if it allows, else dynamically.

    musl first for memory: the program stays resident twice per pod (monitor and PID 1, the
    latter a private copy), and a static musl build keeps some 150 KiB resident where a static
    glibc one keeps 800 KiB, most of it code the program never calls."""
    sources = sorted(str(p) for p in SOURCES.glob("*.c"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    musl = shutil.which("musl-gcc") if "CC" not in os.environ and not extra else None
    with tempfile.TemporaryDirectory() as headers:
        attempts = []
        if musl:
            attempts.append([musl, "-isystem", _kernel_headers(Path(headers)), "-static", "-s"])
        cc = shlex.split(os.environ.get("CC", "cc"))
        attempts += [[*cc, "-static", "-s"], cc]
        for index, compiler in enumerate(attempts):
            command = [*compiler, *FLAGS, *(extra or []), "-o", str(tmp), *sources]
            last = index == len(attempts) - 1
            if subprocess.run(command, capture_output=not last, check=last).returncode == 0:
                break
    tmp.chmod(0o755)
    tmp.replace(out)


def _kernel_headers(directory: Path) -> str:
    """The Linux headers alone (linux/, asm/, asm-generic/), for musl, which does not look in
    /usr/include where the C library's own headers would mix with its."""
    include = Path("/usr/include")
    multiarch = subprocess.run(["cc", "-print-multiarch"], capture_output=True, text=True)
    asm = include / multiarch.stdout.strip() / "asm"
    for name, target in (("linux", include / "linux"), ("asm-generic", include / "asm-generic"),
                         ("asm", asm if asm.is_dir() else include / "asm")):  # fmt: skip
        (directory / name).symlink_to(target)
    return str(directory)


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        # An editable install runs the sources in place, so the program goes next to them.
        root = Path("src") if getattr(self, "editable_mode", False) else Path(self.build_lib)
        compile_program(root / PROGRAM)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if not getattr(self, "editable_mode", False):
            outputs.append(str(Path(self.build_lib) / PROGRAM))
        return outputs


class BinaryDistribution(Distribution):
    """The wheel holds a compiled program: tag it for this platform, not "any"."""

    def has_ext_modules(self) -> bool:
        return True


setup(cmdclass={"build_py": BuildPy}, distclass=BinaryDistribution)
