"""Pod states, the directories that hold them, and the transitions between them.

rkt has no daemon, so a pod's state is never stored: it is *derived* from which directory under
``pods/`` holds the pod and whether that directory's flock is held (pod-lifecycle.md). A process
holds the lock exactly as long as the phase it stands for lasts (preparing, running, deleting);
when it dies the kernel drops the lock, so the same directory then reads as the phase's failed
or finished state. That is why ``running → exited`` and ``preparing → aborted prepare`` appear
below although no code performs them: they happen when a holder exits.

The names are rkt's, exactly as ``rkt list`` and ``rkt status`` print them (pkg/pod/pods.go).
"""

from __future__ import annotations

import enum

from rkt.errors import InvalidTransition


class PodState(enum.Enum):
    EMBRYO = "embryo"
    PREPARING = "preparing"
    ABORTED_PREPARE = "aborted prepare"
    PREPARED = "prepared"
    RUNNING = "running"
    DELETING = "deleting"
    EXITED_DELETING = "exited deleting"
    EXITED = "exited"
    EXITED_GARBAGE = "exited garbage"
    GARBAGE = "garbage"

    def __str__(self) -> str:
        return self.value

    @property
    def is_after_run(self) -> bool:
        """rkt's ``IsAfterRun``: the pod ran once (or never will); its start time is final."""
        return self in _AFTER_RUN

    @property
    def is_finished(self) -> bool:
        """rkt's ``IsFinished``: nothing will happen to the pod unless someone acts on it."""
        return self in _FINISHED

    @property
    def manifest_available(self) -> bool:
        """A pod manifest can be expected; it may not exist yet while preparing, or any more
        while deleting (rkt's ``PodManifestAvailable``)."""
        return self not in (PodState.PREPARING, PodState.ABORTED_PREPARE, PodState.DELETING)


_AFTER_RUN = frozenset(
    {
        PodState.EXITED_DELETING,
        PodState.DELETING,
        PodState.EXITED,
        PodState.EXITED_GARBAGE,
        PodState.GARBAGE,
    }
)
# rkt counts "exited garbage" as exited (its isExited flag stays set there).
_FINISHED = frozenset(
    {PodState.EXITED, PodState.EXITED_GARBAGE, PodState.ABORTED_PREPARE, PodState.GARBAGE}
)


class Phase(enum.Enum):
    """A directory under ``pods/``; the value is its name on disk."""

    EMBRYO = "embryo"
    PREPARE = "prepare"
    PREPARED = "prepared"
    RUN = "run"
    EXITED_GARBAGE = "exited-garbage"
    GARBAGE = "garbage"


#: Phases in the order a pod passes through them. A pod only ever moves forward in this list,
#: so probing (or listing) the directories in this order finds a pod that moves meanwhile.
PHASE_ORDER: tuple[Phase, ...] = tuple(Phase)

#: (phase, locked) → state: pod-lifecycle.md's tables. Embryo and prepared ignore the lock: it
#: is only taken there on the way to the next phase.
_DERIVED: dict[tuple[Phase, bool], PodState] = {
    (Phase.EMBRYO, False): PodState.EMBRYO,
    (Phase.EMBRYO, True): PodState.EMBRYO,
    (Phase.PREPARE, True): PodState.PREPARING,
    (Phase.PREPARE, False): PodState.ABORTED_PREPARE,
    (Phase.PREPARED, False): PodState.PREPARED,
    (Phase.PREPARED, True): PodState.PREPARED,
    (Phase.RUN, True): PodState.RUNNING,
    (Phase.RUN, False): PodState.EXITED,
    (Phase.EXITED_GARBAGE, True): PodState.EXITED_DELETING,
    (Phase.EXITED_GARBAGE, False): PodState.EXITED_GARBAGE,
    (Phase.GARBAGE, True): PodState.DELETING,
    (Phase.GARBAGE, False): PodState.GARBAGE,
}

#: Phases whose lock carries meaning, so deriving the state must probe it.
LOCK_PHASES = frozenset({Phase.PREPARE, Phase.RUN, Phase.EXITED_GARBAGE, Phase.GARBAGE})


def derive(phase: Phase, locked: bool) -> PodState:
    return _DERIVED[(phase, locked)]


def phase_of(state: PodState) -> Phase:
    """The directory a pod in ``state`` lives in."""
    return next(phase for (phase, _), s in _DERIVED.items() if s is state)


#: Every allowed transition. Renames move a pod between directories; the others happen when a
#: lock is taken (→ deleting) or dropped by the kernel (→ exited, → aborted prepare).
TRANSITIONS: dict[PodState, frozenset[PodState]] = {
    # An embryo whose creator died before it could lock and move it (gc: see rkt.pod.gc).
    PodState.EMBRYO: frozenset({PodState.PREPARING, PodState.GARBAGE}),
    # `rkt run` skips "prepared" and goes straight to run/ with the lock held.
    PodState.PREPARING: frozenset({PodState.PREPARED, PodState.RUNNING, PodState.ABORTED_PREPARE}),
    PodState.ABORTED_PREPARE: frozenset({PodState.GARBAGE}),
    PodState.PREPARED: frozenset({PodState.RUNNING, PodState.GARBAGE}),
    PodState.RUNNING: frozenset({PodState.EXITED}),
    PodState.EXITED: frozenset({PodState.EXITED_GARBAGE}),
    PodState.EXITED_GARBAGE: frozenset({PodState.EXITED_DELETING}),
    PodState.GARBAGE: frozenset({PodState.DELETING}),
    # Deleting ends with the directory gone, which is not a state.
    PodState.EXITED_DELETING: frozenset(),
    PodState.DELETING: frozenset(),
}


def check_transition(source: PodState, target: PodState) -> None:
    """Raise :class:`InvalidTransition` unless the table allows ``source → target``."""
    if target not in TRANSITIONS[source]:
        raise InvalidTransition(source.value, target.value)
