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
import subprocess
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

SOURCES = Path("src/rkt/stage1/executor/native")
PROGRAM = "rkt/stage1/executor/rkt-stage1"
#: C17, libc only, every warning an error (DESIGN.md); static so that the pod's PID 1 needs
#: nothing from the host's filesystem once it runs in the pod's.
FLAGS = ["-std=c17", "-O2", "-Wall", "-Wextra", "-Werror", "-D_FORTIFY_SOURCE=2"]


def compile_program(out: Path, extra: list[str] | None = None) -> None:
    """Compile rkt-stage1 to ``out``: statically if the C library allows, else dynamically."""
    cc = shlex.split(os.environ.get("CC", "cc"))
    sources = sorted(str(p) for p in SOURCES.glob("*.c"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    base = [*cc, *FLAGS, *(extra or []), "-o", str(tmp), *sources]
    static = subprocess.run([*base, "-static", "-s"], capture_output=True, text=True)
    if static.returncode != 0:
        subprocess.run(base, check=True)
    tmp.chmod(0o755)
    tmp.replace(out)


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
