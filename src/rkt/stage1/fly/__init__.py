"""The ``fly`` stage1 flavor: one app, chrooted into its rootfs inside a mount namespace of its
own, with everything else of the host's (network, hostname, pids, IPC, capabilities), for
running host tools from images (rkt's stage1-fly, Documentation/running-fly-stage1.md).

How the parts fit:

Which flavor a pod was prepared for, and each flavor's entry points, are the stage1
interface's (rkt.stage1.interface), through which stage0 reaches either flavor.
- ``plan``: the pure half: the app's identity, environment, exec, working directory and the
  mounts (host /dev, /proc, /sys, a /tmp, the volumes) as :mod:`rkt.linux.mount` operations.
- ``run``, ``stop``, ``enter``, ``gc``: the entries of docs/stage1-interface.md.

Nothing here is imported by the default flavor, and this ``__init__`` imports nothing.
"""
