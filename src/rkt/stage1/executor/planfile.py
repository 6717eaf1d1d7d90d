"""The plans rkt-stage1 (the pod's compiled monitor and PID 1) reads, and where the program is.

A plan is a sequence of netstrings (``LEN:BYTES,``): ``rkt-stage1-plan``, the version, the role
(``init`` or ``monitor``), then keys each followed by their values; native/plan.c documents
every key and checks every length, number and string (no NUL) on read. Everything in it is
decided here: rkt-stage1 only carries it out. File descriptors in a plan are numbers of fds
the program inherits.

``RKT_STAGE1_BINARY`` names another build of the program (the test suite's AddressSanitizer
and UndefinedBehaviorSanitizer build); only root runs stage1, and root chooses what it runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from rkt.stage1.planner.plan import AppPlan

VERSION = "1"
#: The compiled program, built by the package build next to this module (setup.py).
PROGRAM = Path(__file__).with_name("rkt-stage1")
BINARY_ENV = "RKT_STAGE1_BINARY"


def program() -> str:
    """The rkt-stage1 to run."""
    return os.environ.get(BINARY_ENV) or str(PROGRAM)


class Plan:
    """A plan being written: :meth:`add` appends a key and its values."""

    def __init__(self, role: str) -> None:
        self.parts: list[bytes] = []
        self.add("rkt-stage1-plan", VERSION, role)

    def add(self, *values: str | int | bytes) -> Plan:
        for value in values:
            raw = value if isinstance(value, bytes) else str(value).encode()
            self.parts.append(b"%d:%s," % (len(raw), raw))
        return self

    def add_list(self, key: str, values: Sequence[str | int]) -> Plan:
        return self.add(key, len(values), *values)

    def to_bytes(self) -> bytes:
        return b"".join(self.parts)


def _text(value: str, what: str) -> str:
    if "\0" in value:
        raise ValueError(f"{what} holds a NUL byte")
    return value


def add_app(
    plan: Plan,
    app: AppPlan,
    *,
    mntns: int,
    filters: Iterable[bytes],
    cgroup_fds: Iterable[int] = (),
    oom_fd: int | None = None,
) -> None:
    """One app of an init plan. ``mntns`` is an fd of the app's mount namespace, pivoted into
    its root; ``filters`` the BPF programs to load, in order."""
    caps = app.capabilities
    from rkt.linux import capability

    numbers = capability.NUMBERS

    def mask(names: Iterable[str]) -> int:
        return capability.mask(numbers[name] for name in names)

    plan.add("app", _text(app.name, "app name"))
    plan.add("mntns", mntns, "workdir", _text(app.working_directory, "workdir"))
    plan.add("uid", app.uid, "gid", app.gid)
    plan.add_list("groups", app.supplementary_gids)
    plan.add("caps", mask(caps.bounding), mask(caps.effective), mask(caps.permitted))
    plan.add(mask(caps.inheritable), mask(caps.ambient))
    plan.add("nnp", int(app.no_new_privs))
    built = list(filters)
    # A filter for an app without no_new_privs is loaded while it still has CAP_SYS_ADMIN
    # (seccomp(2) needs one or the other), before capset; otherwise as late as can be.
    plan.add("filter-early", int(bool(built) and not app.no_new_privs))
    for program_ in built:
        plan.add("filter", program_)
    plan.add("console", int(is_interactive(app)))
    if app.oom_score_adj is not None:
        plan.add("oom-score-adj", app.oom_score_adj)
    for fd in cgroup_fds:
        plan.add("cgroup", fd)
    if oom_fd is not None:
        plan.add("oom", oom_fd)
    plan.add_list("exec", [_text(a, "exec") for a in app.exec])
    plan.add_list("env", [_text(f"{k}={v}", "environment") for k, v in app.environment])
    plan.add_list("pre-start", [_text(a, "pre-start") for a in app.pre_start])
    plan.add_list("post-stop", [_text(a, "post-stop") for a in app.post_stop])


def is_interactive(app: AppPlan) -> bool:
    """Whether the app gets the pod's terminal (``--interactive``: the plan binds the console)."""
    return any(m.kind == "bind" and "console" in m.options for m in app.mounts)
