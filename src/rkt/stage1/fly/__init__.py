"""The ``fly`` stage1 flavor: one app, chrooted into its rootfs inside a mount namespace of its
own, with everything else of the host's (network, hostname, pids, IPC, capabilities), for
running host tools from images (rkt's stage1-fly, Documentation/running-fly-stage1.md).

How the parts fit:

- ``flavor``: which flavor a pod directory was prepared for (recorded by stage0 in
  ``stage1/options.json``) and the entry-point modules of each flavor; stage0, ``rkt stop``,
  ``rkt enter`` and pod gc dispatch through it.
- ``plan``: the pure half: the app's identity, environment, exec, working directory and the
  mounts (host /dev, /proc, /sys, a /tmp, the volumes) as :mod:`rkt.linux.mount` operations.
- ``run``, ``stop``, ``enter``, ``gc``: the entries of docs/stage1-interface.md.

Nothing here is imported by the default flavor, and this ``__init__`` imports nothing.
"""
