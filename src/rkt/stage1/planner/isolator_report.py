"""Which isolators this stage1 enforces and which it ignores, per app (pure).

ace.md: "an executor MUST make information about which isolators were ignored, enforced or
modified available to the user". Each app's report lists its own isolators (the pod manifest's
app, or the image's) and then the pod's, each "enforced" or "ignored" with a reason; run.py
writes it as ``stage1/isolators.json`` and ``rkt status`` prints a line per app from it.
Isolators whose values are invalid never get here: the plan refuses the pod first.
"""

from __future__ import annotations

from collections.abc import Iterable

from appc.schema.isolator import Isolator
from appc.schema.linux import (
    CAPABILITIES_REMOVE_SET,
    CAPABILITIES_RETAIN_SET,
    CPU_SHARES,
    NO_NEW_PRIVILEGES,
    OOM_SCORE_ADJ,
    SECCOMP_REMOVE_SET,
    SECCOMP_RETAIN_SET,
    SELINUX_CONTEXT,
    UNIX_SYSCTL,
)
from appc.schema.resource import (
    BLOCK_BANDWIDTH,
    BLOCK_IOPS,
    CPU,
    MEMORY,
    NETWORK_BANDWIDTH,
    Resource,
)
from rkt.pod import layout
from rkt.stage1.planner.plan import IsolatorStatus, PodOptions

#: Where run.py writes the report, under the pod dir, and its two statuses, as the reader
#: (rkt status) finds them.
REPORT = layout.ISOLATOR_REPORT
ENFORCED = layout.ISOLATOR_ENFORCED
IGNORED = layout.ISOLATOR_IGNORED
#: Non-standard isolator of this runtime (rkt.stage1.planner.pod.PIDS_LIMIT).
PIDS_LIMIT = "rkt.coreos.com/pids-limit"

_ENFORCED_APP = {
    CPU_SHARES: "cgroup cpu shares (cpu.weight on cgroup v2)",
    OOM_SCORE_ADJ: "written to the app's oom_score_adj",
    NO_NEW_PRIVILEGES: "prctl(PR_SET_NO_NEW_PRIVS) before the app's exec",
    UNIX_SYSCTL: "written in the pod's namespaces before the apps start",
    PIDS_LIMIT: "cgroup pids.max",
}
_NOT_IMPLEMENTED = {
    SELINUX_CONTEXT: "SELinux is not supported by this stage1",
    NETWORK_BANDWIDTH: "not implemented by this stage1",
}


def _resource(isolator: Isolator, what: str) -> IsolatorStatus:
    value = isolator.value
    if isinstance(value, Resource) and value.limit is not None:
        return IsolatorStatus(isolator.name, ENFORCED, f"cgroup {what} limit")
    return IsolatorStatus(isolator.name, IGNORED, "no limit given: requests are not enforced")


def app_status(isolator: Isolator, options: PodOptions) -> IsolatorStatus:
    """What becomes of one isolator of an app."""
    name = isolator.name
    if name == MEMORY:
        return _resource(isolator, "memory")
    if name == CPU:
        return _resource(isolator, "cpu quota")
    if name == BLOCK_BANDWIDTH:
        return _resource(
            isolator, "blkio throttle (bytes/s, every block device; buffered writes: v2 only)"
        )
    if name == BLOCK_IOPS:
        return _resource(
            isolator, "blkio throttle (iops, every block device; buffered writes: v2 only)"
        )
    if name in (CAPABILITIES_RETAIN_SET, CAPABILITIES_REMOVE_SET):
        if options.insecure_capabilities:
            return IsolatorStatus(name, IGNORED, "--insecure-options=capabilities")
        return IsolatorStatus(name, ENFORCED, "the app's capability sets")
    if name in (SECCOMP_RETAIN_SET, SECCOMP_REMOVE_SET):
        if options.insecure_seccomp:
            return IsolatorStatus(name, IGNORED, "--insecure-options=seccomp")
        return IsolatorStatus(name, ENFORCED, "seccomp filter loaded before the app's exec")
    if name in _ENFORCED_APP:
        return IsolatorStatus(name, ENFORCED, _ENFORCED_APP[name])
    if name in _NOT_IMPLEMENTED:
        return IsolatorStatus(name, IGNORED, _NOT_IMPLEMENTED[name])
    return IsolatorStatus(name, IGNORED, "unknown isolator")


def pod_status(isolator: Isolator) -> IsolatorStatus:
    """What becomes of one isolator of the pod manifest (only sysctls apply pod-wide)."""
    name = isolator.name
    if name == UNIX_SYSCTL:
        return IsolatorStatus(name, ENFORCED, _ENFORCED_APP[name], scope="pod")
    if name == PIDS_LIMIT:
        return IsolatorStatus(name, ENFORCED, "the pod cgroup's pids.max", scope="pod")
    if name in _NOT_IMPLEMENTED:
        return IsolatorStatus(name, IGNORED, _NOT_IMPLEMENTED[name], scope="pod")
    if name in _ENFORCED_APP or name in (MEMORY, CPU) or name.startswith("os/linux/"):
        return IsolatorStatus(
            name, IGNORED, "not enforced at pod level: give it to the apps", scope="pod"
        )
    return IsolatorStatus(name, IGNORED, "unknown isolator", scope="pod")


def report(
    app: Iterable[Isolator], pod: Iterable[Isolator], options: PodOptions
) -> tuple[IsolatorStatus, ...]:
    """An app's report: its own isolators, then the pod's, in order."""
    return (
        *(app_status(isolator, options) for isolator in app),
        *(pod_status(isolator) for isolator in pod),
    )


def to_json(statuses: Iterable[IsolatorStatus]) -> list[dict[str, str]]:
    return [
        {"name": s.name, "status": s.status, "reason": s.reason, "scope": s.scope} for s in statuses
    ]
