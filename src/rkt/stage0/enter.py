"""``rkt enter``: start stage1's ``enter`` entry point in place of this process.

The entry point joins the app's namespaces and execs CMD there; until that exec it is a
process of ours inside the pod, and if CMD is a script whose interpreter line names
``/proc/self/exe``, the kernel runs *our* executable in the pod, where the pod's processes can
open it through ``/proc/<pid>/exe`` and rewrite it once it has exited (runc CVE-2019-5736).
So the interpreter is exec'ed from a sealed in-memory copy (rkt.linux.process.sealed_copy):
the pod can only ever see that copy, which nothing can write. argv[0] stays the interpreter's
path, from which Python finds its installation (its venv) as before.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

from rkt.errors import PodError
from rkt.linux.process import sealed_copy
from rkt.stage1 import interface


def enter(pod_dir: Path, app: str, command: list[str], *, tty: bool = False) -> NoReturn:
    """Become stage1's ``enter`` of the pod's flavor, running ``command`` in ``app``'s jail."""
    flags = [f"--app={app}", *(["--tty"] if tty else []), "--", *command]
    exec_entry(interface.command(pod_dir, interface.read_flavor(pod_dir), "enter", *flags))


def exec_entry(argv: list[str]) -> NoReturn:
    """Exec ``argv`` (``argv[0]`` the interpreter) from a sealed copy of its executable."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        fd = sealed_copy(os.path.realpath(argv[0]), "rkt-enter")
        os.execve(fd, argv, os.environ)
    except OSError as err:
        raise PodError(f"cannot run stage1 enter ({argv[0]}): {err.strerror}") from err
