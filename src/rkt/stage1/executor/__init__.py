"""The default stage1 flavor's executor: ``run`` (launcher: cgroups, namespaces, the apps' mounts,
then the compiled monitor and PID 1 of ``native/``), ``stop``, ``enter``, ``gc`` and the host
sweep of what vanished pods left (``leftovers``). Every kernel call goes through rkt.linux.
"""
