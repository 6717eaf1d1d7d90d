"""A pod on disk: its directory, its lock, its state, and the renames that move it.

A :class:`Pod` holds an open descriptor of its directory. The flock that encodes the pod's
phase is taken on that descriptor (rkt locks the directory itself, not a side file), and every
read goes through it with ``dir_fd`` so that a concurrent rename by ``rkt gc`` cannot make a
reader look at the wrong pod. The state is derived when the pod is opened (:meth:`refresh`);
it is a snapshot, as in rkt.

Probing a lock takes a *shared* non-blocking flock and drops it at once, so any number of
``rkt list``/``rkt status`` can probe together while an exclusive holder still reads as locked;
:mod:`rkt.store.lock` only offers exclusive attempts, which would make two probers see each
other as running. A reader that must not touch any lock at all (the API service, which probes
all the time) passes its own ``probe`` (:class:`rkt.linux.flocks.LockTable` reads /proc/locks).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from rkt.errors import AmbiguousPod, PodError, PodNotFound
from rkt.pod import layout
from rkt.pod.state import (
    LOCK_PHASES,
    PHASE_ORDER,
    Phase,
    PodState,
    check_transition,
    derive,
    phase_of,
)

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW
#: rkt's IncludeMostDirs: the phases `rkt list` shows and UUIDs resolve against.
MOST_PHASES = frozenset({Phase.PREPARE, Phase.PREPARED, Phase.RUN, Phase.EXITED_GARBAGE})
ALL_PHASES = frozenset(Phase)
_OPEN_ATTEMPTS = 5
#: Whether another process holds the exclusive flock of the directory open at a descriptor.
Probe = Callable[[int], bool]


def _probe_locked(fd: int) -> bool:
    """Whether another open file holds an exclusive flock on ``fd``'s file."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _try_lock(fd: int) -> bool:
    """Exclusive, non-blocking. Imported on use: rkt.store's package init loads the whole
    image store, which `rkt list` and `rkt status` (which never lock) must not pay for."""
    from rkt.linux.flocks import try_lock_fd

    return try_lock_fd(fd)


def _sync_dir(path: Path) -> None:
    """Make a rename durable: fsync the directory that received the entry."""
    fd = os.open(path, _O_DIR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Pod:
    """An open pod directory; close it (or use ``with``) to release its descriptor and lock."""

    def __init__(
        self,
        pods: Path,
        uuid: str,
        phase: Phase,
        fd: int,
        *,
        held: bool,
        probe: Probe | None = None,
    ) -> None:
        self.pods = pods
        self.uuid = uuid
        self.phase = phase
        self._fd: int | None = fd
        #: True while this object holds the exclusive lock (creator, runner or deleter).
        self.held = held
        locked = held or (phase in LOCK_PHASES and (probe or _probe_locked)(fd))
        self.state = derive(phase, locked)

    # -- opening --------------------------------------------------------------------------

    @classmethod
    def new(cls, pods: Path) -> Pod:
        """Create a pod with a fresh UUID: mkdir in embryo/, lock, rename to prepare/.

        The pod is returned *preparing* and exclusively locked by this object, as rkt's NewPod
        leaves it; the embryo step exists so that no one sees an unlocked (= aborted) prepare.
        """
        import uuid as uuidlib  # only creators pay for the import

        for phase in PHASE_ORDER:
            layout.phase_dir(pods, phase).mkdir(mode=0o750, parents=True, exist_ok=True)
        uuid = str(uuidlib.uuid4())
        path = layout.pod_dir(pods, Phase.EMBRYO, uuid)
        os.mkdir(path, 0o750)
        fd = os.open(path, _O_DIR)
        if not _try_lock(fd):  # nobody else knows the UUID yet
            os.close(fd)
            raise PodError(f"cannot lock new pod {uuid}")
        pod = cls(pods, uuid, Phase.EMBRYO, fd, held=True)
        pod._move(PodState.PREPARING)
        return pod

    @classmethod
    def load(cls, pods: Path, uuid: str, *, probe: Probe | None = None) -> Pod:
        """Open the pod whose UUID is ``uuid`` or starts with it (rkt's PodFromUUIDString)."""
        full = resolve_uuid(pods, uuid)
        pod = cls.open(pods, full, probe=probe)
        if pod is None:
            raise PodNotFound(f'no matches found for "{uuid}"', hint="the pod was just removed")
        return pod

    @classmethod
    def open(cls, pods: Path, uuid: str, *, probe: Probe | None = None) -> Pod | None:
        """Open a pod by full UUID wherever it is; ``None`` if it is in no phase directory.

        Pods only move forward through :data:`PHASE_ORDER`, so probing in that order meets a
        moving pod. Between opening a directory and probing its lock, gc may still rename it
        (run/ → exited-garbage/): the state would be derived from the wrong directory, so the
        path is checked again after probing and the whole probe retried if it moved.
        """
        for _ in range(_OPEN_ATTEMPTS):
            for phase in PHASE_ORDER:
                path = layout.pod_dir(pods, phase, uuid)
                try:
                    fd = os.open(path, _O_DIR)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                except OSError as err:
                    raise PodError(f"error opening pod {uuid}: {err.strerror}") from err
                pod = cls(pods, uuid, phase, fd, held=False, probe=probe)
                if pod._still_at(path):
                    return pod
                pod.close()
                break  # it moved while we looked: start over
            else:
                return None
        raise PodError(f"pod {uuid} keeps moving", hint="try again")

    def _still_at(self, path: Path) -> bool:
        try:
            st = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        fst = os.fstat(self.fd)
        return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)

    @property
    def fd(self) -> int:
        if self._fd is None:
            raise PodError(f"pod {self.uuid} is closed")
        return self._fd

    @property
    def path(self) -> Path:
        return layout.pod_dir(self.pods, self.phase, self.uuid)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # drops our flock too, if we held it
            self._fd = None
            self.held = False

    def __enter__(self) -> Pod:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Pod({self.uuid}, {self.state})"

    def refresh(self) -> PodState:
        """Derive the state again (the pod may have moved or its holder exited)."""
        fresh = Pod.open(self.pods, self.uuid)
        if fresh is None:
            raise PodNotFound(f"pod {self.uuid} is gone")
        if self.held:
            fresh.close()  # our own descriptor carries our lock; keep it
            return self.state
        self.close()
        self._fd, self.phase, self.state = fresh._fd, fresh.phase, fresh.state
        fresh._fd = None
        return self.state

    # -- transitions ----------------------------------------------------------------------

    def _lock(self) -> None:
        """Take the exclusive lock without waiting; losing the race is an error, not a wait."""
        if not self.held:
            if not _try_lock(self.fd):
                raise PodError(
                    f"pod {self.uuid} is locked by another process", hint=str(self.state)
                )
            self.held = True

    def _move(self, target: PodState) -> None:
        check_transition(self.state, target)
        phase = phase_of(target)
        dest = layout.pod_dir(self.pods, phase, self.uuid)
        try:
            os.rename(self.path, dest)
        except FileNotFoundError as err:
            raise PodError(f"pod {self.uuid} was moved by another process") from err
        except OSError as err:
            raise PodError(f"cannot move pod {self.uuid} to {phase.value}: {err.strerror}") from err
        _sync_dir(dest.parent)
        self.phase, self.state = phase, target

    def to_prepared(self) -> None:
        """preparing → prepared; only the holder (the creator) may, and it unlocks."""
        if not self.held:
            raise PodError(f"pod {self.uuid} is not prepared by this process")
        self._move(PodState.PREPARED)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.held = False

    def to_run(self) -> None:
        """preparing|prepared → running, keeping (or taking) the lock the executor inherits."""
        if self.state is PodState.PREPARING and not self.held:
            raise PodError(f"pod {self.uuid} is not prepared by this process")
        check_transition(self.state, PodState.RUNNING)
        self._lock()
        self._move(PodState.RUNNING)

    def to_exited_garbage(self) -> None:
        """exited → exited garbage (gc's mark); the mtime records when, for the grace period."""
        self._move(PodState.EXITED_GARBAGE)
        self._mark_time()

    def to_garbage(self) -> None:
        """aborted prepare|prepared → garbage: pods that never ran."""
        self._move(PodState.GARBAGE)
        self._mark_time()

    def abandon_embryo(self) -> bool:
        """embryo → garbage, for an embryo whose creator died between making it and moving it
        on (its lock is free); false if its creator still holds it."""
        if self.state is not PodState.EMBRYO or not _try_lock(self.fd):
            return False
        self.held = True
        self.to_garbage()
        return True

    def _mark_time(self) -> None:
        # rkt reads the directory's ctime, which the rename sets; ctime cannot be set by any
        # tool (or test), so we write the marking time into the mtime explicitly instead.
        os.utime(self.fd)

    def lock_for_delete(self) -> bool:
        """garbage|exited garbage → (exited) deleting; false if another process is on it."""
        target = (
            PodState.EXITED_DELETING if self.state is PodState.EXITED_GARBAGE else PodState.DELETING
        )
        check_transition(self.state, target)
        if not _try_lock(self.fd):
            return False
        self.held = True
        self.state = target
        return True


def list_uuids(pods: Path, include: Iterable[Phase] = MOST_PHASES) -> list[str]:
    """UUIDs of the pods in ``include``'s directories, sorted, each once (a pod renamed
    during the walk may be seen in two directories)."""
    found: set[str] = set()
    wanted = set(include)
    for phase in PHASE_ORDER:  # forward order: a pod moving meanwhile is still seen
        if phase in wanted:
            found.update(_entries(layout.phase_dir(pods, phase)))
    return sorted(found)


def _entries(directory: Path) -> list[str]:
    try:
        with os.scandir(directory) as it:
            return [e.name for e in it if layout.is_uuid(e.name) and e.is_dir()]
    except FileNotFoundError:
        return []
    except OSError as err:
        raise PodError(f"cannot read pods directory {directory}: {err.strerror}") from err


def walk_pods(
    pods: Path, include: Iterable[Phase] = MOST_PHASES, *, probe: Probe | None = None
) -> Iterator[Pod]:
    """Open each pod in ``include`` in UUID order, closing it after the caller's turn.

    A pod gone meanwhile is skipped; a pod that moved into a phase outside ``include`` is
    skipped too (rkt's WalkPods), so that gc and list never block one another.
    """
    wanted = frozenset(include)
    for uuid in list_uuids(pods, wanted):
        pod = Pod.open(pods, uuid, probe=probe)
        if pod is None:
            continue
        with pod:
            if pod.phase in wanted:
                yield pod


def resolve_uuid(pods: Path, prefix: str) -> str:
    """The one UUID in rkt's resolvable phases that starts with ``prefix`` (case-insensitive)."""
    prefix = prefix.strip().lower()
    if not prefix:
        raise PodNotFound("UUID cannot be empty")
    matches = [u for u in list_uuids(pods, MOST_PHASES) if u.startswith(prefix)]
    if not matches:
        raise PodNotFound(f'no matches found for "{prefix}"')
    if len(matches) > 1:
        raise AmbiguousPod(
            f"ambiguous uuid, {len(matches)} matches", hint="give more characters of the UUID"
        )
    return matches[0]


def read_uuid_file(path: str) -> str:
    """rkt's ReadUUIDFromFile: the file's text without surrounding white space."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as err:
        raise PodError(f"unable to read UUID from {path}: {err.strerror}") from err
