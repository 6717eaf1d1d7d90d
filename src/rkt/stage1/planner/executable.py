"""Finding an app's executable inside its rootfs, the way execvp(3) would from inside it.

aci.md ("exec"): a name without "/" is searched along PATH; one with "/" is used as it is
(relative to the working directory). rkt's FindBinPath does this on the host side, resolving
symlinks inside the app root, and so does this module: the lookup never leaves the root, and a
symlink climbing out of it is refused rather than skipped, so a hostile image learns nothing
about the host by probing. The returned path is the in-root path found (its symlinks kept), as
rkt passes it on; the kernel resolves it again inside the app's root at exec time.
"""

from __future__ import annotations

import posixpath

from rkt.stage1.planner import rootfs
from rkt.stage1.planner.plan import PlanError


def _clean(path: str) -> str:
    # Drop "." and empty components, as Go's filepath.Join does for rkt; ".." is refused later.
    return "/" + "/".join(p for p in path.split("/") if p not in ("", "."))


def _candidate(root: str, path: str) -> bool:
    relative = rootfs.resolve(root, path, "executable")
    return rootfs.is_executable_file(root, relative)


def find_executable(
    root: str, exec_args: tuple[str, ...], working_directory: str, path_value: str
) -> tuple[str, ...]:
    """``exec_args`` with its first element replaced by the absolute in-root path found."""
    if not exec_args or not exec_args[0]:
        raise PlanError("the app has no exec", hint="set one in the image or with --exec")
    name = exec_args[0]
    if "/" in name:
        path = _clean(name if name.startswith("/") else posixpath.join(working_directory, name))
        if not _candidate(root, path):
            raise PlanError(
                f'executable "{name}" does not exist in the image or is not executable',
                hint="check the image's exec and the file's mode",
            )
        return (path, *exec_args[1:])
    for entry in path_value.split(":"):
        # An empty PATH entry means the current directory (execvp(3)); a relative one is taken
        # from the working directory, as rkt's lookupPathInsideApp does.
        directory = posixpath.join(working_directory, entry) if entry else working_directory
        if ".." in directory.split("/"):
            continue
        path = _clean(posixpath.join(directory, name))
        if _candidate(root, path):
            return (path, *exec_args[1:])
    raise PlanError(
        f'executable "{name}" was not found in the image along PATH "{path_value}"',
        hint="use an absolute path in exec or set PATH in the image's environment",
    )
