"""The only code in Rocket that makes raw kernel calls; it imports nothing from ``rkt``.

How the parts fit:

- ``syscall`` loads libc through ctypes and holds the one helper every wrapper fails through:
  ``check`` raises ``OSError(errno, "name(args): strerror; likely cause")``.
- ``namespace``, ``mount``, ``capability`` and ``process`` are thin wrappers, one function per
  kernel call, with constants in the kernel's spelling (``CLONE_NEWNS``, ``MS_BIND``,
  ``MNT_DETACH``, ``CAP_SYS_ADMIN``, ``PR_SET_NO_NEW_PRIVS``).
- ``lookup`` resolves a path inside a root without leaving it (an ``O_PATH`` fd to mount through).
- ``mount`` also holds the mount *operations* (``Bind``, ``Tmpfs``, ``Overlay``, ``Proc``…): frozen
  data with ``describe()`` and ``apply(kernel, root)``. A stage1 plan is a list of them.
- ``kernel`` is the seam: the ``Kernel`` protocol, ``RealKernel`` that performs the calls and
  ``RecordingKernel`` that records them, so plans are tested by the order of their calls.

Nothing here is imported by ``import rkt``; importing a submodule loads ctypes (but
``mountinfo``, a parser of /proc/self/mountinfo). All of it acts on
the calling thread, so executors run it in a freshly forked, single-threaded process.
"""
