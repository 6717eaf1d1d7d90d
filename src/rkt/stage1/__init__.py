"""stage1: the executors of pods, behind one interface (docs/stage1-interface.md).

- ``interface``: all that stage0 knows of stage1 and the only module of this package stage0
  imports: the flavors and their entry points, the builder of their command lines, gc and the
  host sweep, the versioned ``stage1/options.json``.
- ``planner/``: the pure half of the default flavor: pod directory in, frozen plan out, no
  kernel calls.
- ``executor/``: the default flavor's entry points (``run``, ``stop``, ``enter``, ``gc``), which
  perform the plan through rkt.linux and start the compiled ``rkt-stage1`` (``native/``).
- ``fly/``: the chroot-only flavor's entry points and its own small plan.

Nothing outside stage0 imports this package (tests/unit/test_import_rules.py). The package
itself imports nothing: ``python -m rkt.stage1.executor.run`` starts the pod's cgroup before
the planning modules are loaded.
"""
