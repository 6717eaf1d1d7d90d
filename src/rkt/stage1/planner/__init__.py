"""The default stage1's planning half: a pod manifest, each app's image manifest and rendered
rootfs, and the run options become a frozen :class:`~rkt.stage1.planner.plan.PodPlan`
(docs/architecture.md, step 5). The executor (elsewhere) performs it in a fresh process.

How the parts fit:

- ``plan``: the data (PodPlan, AppPlan, Mount, …), the inputs and PlanError.
- ``rootfs``: looking at paths inside an app's rootfs without leaving it (docs/security.md 1, 3, 7).
- ``user``: user and group from the image's own /etc/passwd and /etc/group (aci.md "app").
- ``environment``: the final environment (rkt run's precedence, ace.md's required variables).
- ``executable``: exec[0] along PATH inside the rootfs.
- ``capabilities``: capability sets, seccomp and no_new_privs from isolators (ace.md).
- ``mounts``: the ordered mounts of an app: rootfs, /proc, /sys, /dev, /tmp, volumes, masks.
- ``hosts``: /etc/hosts and /etc/resolv.conf from --hosts-entry and --dns*.
- ``pod``: plan_pod() ties them together; ``load``: reads the pod directory into its input.

Nothing here imports rkt.linux, rkt.store, rkt.fetch or rkt.cli, mounts, forks or writes.

The planner may read the names of the pod directory's files (rkt.pod.layout) and the
interface's options (rkt.stage1.interface); tests/unit/test_stage1_pod.py checks what planning
imports.
"""
