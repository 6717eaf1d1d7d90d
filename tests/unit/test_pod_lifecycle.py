"""Pod directories, locks, state derivation, UUID resolution, listing and gc (no root)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from rkt.errors import AmbiguousPod, InvalidTransition, PodError, PodNotFound
from rkt.pod import gc, info
from rkt.pod import pod as podmod
from rkt.pod.layout import is_uuid
from rkt.pod.pod import Pod, list_uuids, resolve_uuid, walk_pods
from rkt.pod.state import Phase, PodState
from rkt.stage0.gc import teardown
from tests.unit.test_pod_helpers import exit_status, prepared, start_running


@pytest.fixture
def pods(tmp_path: Path) -> Path:
    return tmp_path / "pods"


def test_new_pod_is_preparing_and_locked(pods: Path) -> None:
    with Pod.new(pods) as pod:
        assert is_uuid(pod.uuid) and pod.uuid[14] == "4"  # uuid4, canonical form
        assert pod.path == pods / "prepare" / pod.uuid and pod.path.is_dir()
        assert not (pods / "embryo" / pod.uuid).exists()
        with Pod.open(pods, pod.uuid) as other:  # type: ignore[union-attr]
            assert other.state is PodState.PREPARING
    # The creator died without finishing: an aborted prepare.
    with Pod.load(pods, pod.uuid) as again:
        assert again.state is PodState.ABORTED_PREPARE
        with pytest.raises(PodError):
            again.to_prepared()  # only the holder may


def test_prepared_and_transitions_refused(pods: Path) -> None:
    uuid = prepared(pods, "redis")
    with Pod.load(pods, uuid) as pod:
        assert pod.state is PodState.PREPARED and pod.phase is Phase.PREPARED
        with pytest.raises(InvalidTransition, match="from prepared to exited garbage"):
            pod.to_exited_garbage()
        assert info.created_ns(pod) > 0 and info.started_ns(pod) == 0
        assert [a.name for a in info.apps(pod)] == ["redis"]
        assert info.image_name(pod, "redis") == "example.com/redis:1.0"


def test_running_holder_killed_becomes_exited(pods: Path) -> None:
    uuid = prepared(pods, "redis")
    proc = start_running(pods, uuid)
    try:
        with Pod.load(pods, uuid) as pod:
            assert pod.state is PodState.RUNNING
            assert info.pid(pod) == 4242 and info.started_ns(pod) > 0
            with pytest.raises(InvalidTransition):
                pod.to_exited_garbage()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # The kernel dropped the lock with the holder: exited, with no exit status recorded.
    with Pod.load(pods, uuid) as pod:
        assert pod.state is PodState.EXITED
        assert info.exit_code(pod, "redis") is None


def test_refresh_follows_the_pod(pods: Path) -> None:
    uuid = prepared(pods, "a")
    proc = start_running(pods, uuid)
    with Pod.load(pods, uuid) as pod:
        assert pod.state is PodState.RUNNING
        proc.kill()
        proc.wait()
        assert pod.refresh() is PodState.EXITED
        with Pod.load(pods, uuid) as marker:
            marker.to_exited_garbage()
        assert pod.refresh() is PodState.EXITED_GARBAGE
        assert pod.path == pods / "exited-garbage" / uuid


def test_uuid_prefix_resolution(pods: Path) -> None:
    for name in ("aaaa1111-0000-4000-8000-000000000000", "aaaa2222-0000-4000-8000-000000000000"):
        (pods / "prepared" / name).mkdir(parents=True)
    (pods / "garbage" / "bbbb0000-0000-4000-8000-000000000000").mkdir(parents=True)
    assert resolve_uuid(pods, "AAAA1") == "aaaa1111-0000-4000-8000-000000000000"
    with pytest.raises(AmbiguousPod, match="ambiguous uuid, 2 matches"):
        resolve_uuid(pods, "aaaa")
    with pytest.raises(PodNotFound, match='no matches found for "bbbb"'):
        resolve_uuid(pods, "bbbb")  # garbage is not resolvable, as in rkt
    with pytest.raises(PodNotFound):
        resolve_uuid(pods, "")
    (pods / "run" / "not-a-uuid").mkdir(parents=True)
    assert len(list_uuids(pods)) == 2


def test_list_survives_a_rename_during_the_walk(
    pods: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moving = prepared(pods, "a")
    staying = prepared(pods, "b")
    real = podmod._entries

    def entries(directory: Path) -> list[str]:
        names = real(directory)
        if directory.name == "prepared":  # after prepared/ is read, the pod moves forward
            (pods / "prepared" / moving).rename(pods / "run" / moving)
        return names

    monkeypatch.setattr(podmod, "_entries", entries)
    seen = {p.uuid: p.state for p in walk_pods(pods)}
    assert seen == {moving: PodState.EXITED, staying: PodState.PREPARED}


def test_open_retries_when_moved_between_open_and_probe(
    pods: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uuid = prepared(pods, "a")
    (pods / "prepared" / uuid).rename(pods / "run" / uuid)
    real = podmod._probe_locked
    moved = []

    def probe(fd: int) -> bool:
        if not moved:  # gc marks the pod right after we opened run/<uuid>
            moved.append(True)
            (pods / "run" / uuid).rename(pods / "exited-garbage" / uuid)
        return real(fd)

    monkeypatch.setattr(podmod, "_probe_locked", probe)
    with Pod.open(pods, uuid) as pod:  # type: ignore[union-attr]
        assert pod.state is PodState.EXITED_GARBAGE


def _exited(pods: Path, app: str = "a", code: int | None = 0) -> str:
    uuid = prepared(pods, app)
    proc = start_running(pods, uuid)
    proc.kill()
    proc.wait()  # the kernel has dropped the holder's lock once it is reaped
    if code is not None:
        exit_status(pods, uuid, app, code)
    return uuid


def _age(path: Path, seconds: float) -> None:
    old = path.stat().st_mtime - seconds
    os.utime(path, (old, old))


def test_gc_grace_period(pods: Path) -> None:
    uuid = _exited(pods)
    messages: list[tuple[str, bool]] = []
    report = lambda text, out: messages.append((text, out))  # noqa: E731
    gc.collect(
        pods,
        teardown=teardown,
        report=report,
        grace_ns=1800 * 10**9,
        expire_prepared_ns=86400 * 10**9,
    )
    assert (pods / "exited-garbage" / uuid).is_dir()
    assert messages == [
        (f'moving pod "{uuid}" to garbage', False),
        (f'pod "{uuid}" not removed: still within grace period (30m0s)', False),
    ]
    _age(pods / "exited-garbage" / uuid, 1801)
    messages.clear()
    gc.collect(
        pods,
        teardown=teardown,
        report=report,
        grace_ns=1800 * 10**9,
        expire_prepared_ns=86400 * 10**9,
    )
    assert messages == [(f'Garbage collecting pod "{uuid}"', True)]
    assert not any((pods / p.value / uuid).exists() for p in Phase)


def test_gc_expire_prepared_and_mark_only(pods: Path) -> None:
    fresh, old = prepared(pods, "a"), prepared(pods, "b")
    aborted = Pod.new(pods)
    aborted.close()
    _age(pods / "prepared" / old, 25 * 3600)
    messages: list[str] = []
    gc.collect(
        pods, lambda t, _: messages.append(t), teardown=teardown, grace_ns=0,
        expire_prepared_ns=86400 * 10**9, mark_only=True,
    )  # fmt: skip
    assert messages == [f'moving failed prepare "{aborted.uuid}" to garbage']
    assert (pods / "garbage" / aborted.uuid).is_dir() and (pods / "prepared" / old).is_dir()
    messages.clear()
    gc.collect(
        pods,
        teardown=teardown,
        report=lambda t, _: messages.append(t),
        grace_ns=0,
        expire_prepared_ns=86400 * 10**9,
    )
    assert messages == [
        f'moving expired prepared pod "{old}" to garbage',
        *sorted([f'Garbage collecting pod "{aborted.uuid}"', f'Garbage collecting pod "{old}"']),
    ]
    assert sorted(list_uuids(pods, set(Phase))) == [fresh]


def test_gc_and_rm_leave_a_running_pod_alone(pods: Path) -> None:
    uuid = prepared(pods, "a")
    proc = start_running(pods, uuid)
    try:
        messages: list[str] = []
        gc.collect(
            pods,
            teardown=teardown,
            report=lambda t, _: messages.append(t),
            grace_ns=0,
            expire_prepared_ns=0,
        )
        assert messages == []
        with Pod.load(pods, uuid) as pod:
            assert not gc.remove(pod, lambda t, _: messages.append(t), teardown)
        assert messages == [f'pod "{uuid}" is currently running']
        assert (pods / "run" / uuid).is_dir()
    finally:
        proc.kill()
        proc.wait()


def test_delete_refuses_a_pod_with_mounts(tmp_path: Path) -> None:
    target = tmp_path / "pods" / "garbage" / "x"
    table = tmp_path / "mountinfo"
    table.write_text(
        f"36 35 98:0 / {target}/stage1/rootfs rw - overlay overlay rw\n"
        "37 35 98:0 / /elsewhere rw - ext4 /dev/sda rw\n"
    )
    assert gc.mounts_under(target, str(table)) == [f"{target}/stage1/rootfs"]
    assert gc.format_duration(86400 * 10**9) == "24h0m0s"
    assert gc.format_duration(0) == "0s" and gc.format_duration(90 * 10**9) == "1m30s"


def test_gc_collects_an_abandoned_embryo_but_not_one_being_made(pods: Path) -> None:
    """An embryo whose creator died before locking it and moving it on is garbage once it is a
    second old; one its creator holds, or a fresh one, is left alone."""
    for phase in Phase:
        (pods / phase.value).mkdir(parents=True, exist_ok=True)
    abandoned = "11111111-1111-4111-8111-111111111111"
    fresh = "22222222-2222-4222-8222-222222222222"
    held = "33333333-3333-4333-8333-333333333333"
    for uuid in (abandoned, fresh, held):
        (pods / "embryo" / uuid).mkdir()
    _age(pods / "embryo" / abandoned, 5)
    _age(pods / "embryo" / held, 5)
    holder = os.open(pods / "embryo" / held, os.O_RDONLY | os.O_DIRECTORY)
    try:
        import fcntl

        fcntl.flock(holder, fcntl.LOCK_EX)
        messages: list[str] = []
        gc.collect(
            pods,
            teardown=teardown,
            report=lambda t, _: messages.append(t),
            grace_ns=0,
            expire_prepared_ns=10**15,
        )
        assert messages == [
            f'moving abandoned embryo "{abandoned}" to garbage',
            f'Garbage collecting pod "{abandoned}"',
        ]
        assert sorted(os.listdir(pods / "embryo")) == [fresh, held]
    finally:
        os.close(holder)
