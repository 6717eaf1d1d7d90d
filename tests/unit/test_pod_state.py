"""The pod state table: derivation from (directory, lock) and the allowed transitions."""

from __future__ import annotations

import pytest

from rkt.errors import InvalidTransition, PodError
from rkt.pod.state import TRANSITIONS, Phase, PodState, check_transition, derive, phase_of

S = PodState
ALLOWED = [
    (S.EMBRYO, S.PREPARING),
    (S.EMBRYO, S.GARBAGE),
    (S.PREPARING, S.PREPARED),
    (S.PREPARING, S.RUNNING),
    (S.PREPARING, S.ABORTED_PREPARE),
    (S.ABORTED_PREPARE, S.GARBAGE),
    (S.PREPARED, S.RUNNING),
    (S.PREPARED, S.GARBAGE),
    (S.RUNNING, S.EXITED),
    (S.EXITED, S.EXITED_GARBAGE),
    (S.EXITED_GARBAGE, S.EXITED_DELETING),
    (S.GARBAGE, S.DELETING),
]


def test_names_are_rkts() -> None:
    assert [s.value for s in PodState] == [
        "embryo", "preparing", "aborted prepare", "prepared", "running", "deleting",
        "exited deleting", "exited", "exited garbage", "garbage",
    ]  # fmt: skip
    assert [p.value for p in Phase] == [
        "embryo", "prepare", "prepared", "run", "exited-garbage", "garbage"
    ]  # fmt: skip


def test_table_is_exactly_the_allowed_transitions() -> None:
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == set(ALLOWED)
    for source, target in ALLOWED:
        check_transition(source, target)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.RUNNING, S.GARBAGE),
        (S.RUNNING, S.EXITED_GARBAGE),
        (S.EMBRYO, S.RUNNING),
        (S.EXITED, S.RUNNING),
        (S.PREPARED, S.EXITED_GARBAGE),
        (S.GARBAGE, S.PREPARED),
        (S.DELETING, S.GARBAGE),
        (S.EXITED_GARBAGE, S.GARBAGE),
    ],
)
def test_refused(source: PodState, target: PodState) -> None:
    with pytest.raises(InvalidTransition) as info:
        check_transition(source, target)
    assert isinstance(info.value, PodError)
    assert str(info.value) == f"invalid transition from {source} to {target}"


def test_derivation() -> None:
    assert derive(Phase.PREPARE, True) is S.PREPARING
    assert derive(Phase.PREPARE, False) is S.ABORTED_PREPARE
    assert derive(Phase.RUN, True) is S.RUNNING
    assert derive(Phase.RUN, False) is S.EXITED
    assert derive(Phase.EXITED_GARBAGE, True) is S.EXITED_DELETING
    assert derive(Phase.EXITED_GARBAGE, False) is S.EXITED_GARBAGE
    assert derive(Phase.GARBAGE, True) is S.DELETING
    assert derive(Phase.GARBAGE, False) is S.GARBAGE
    assert derive(Phase.PREPARED, True) is derive(Phase.PREPARED, False) is S.PREPARED
    assert derive(Phase.EMBRYO, True) is S.EMBRYO
    for state in PodState:
        assert derive(phase_of(state), state in {S.PREPARING, S.RUNNING, S.DELETING,
                                                  S.EXITED_DELETING}) is state  # fmt: skip


def test_predicates() -> None:
    assert S.EXITED_GARBAGE.is_finished and S.ABORTED_PREPARE.is_finished
    assert not S.RUNNING.is_finished and not S.PREPARED.is_finished
    assert S.GARBAGE.is_after_run and not S.PREPARED.is_after_run
    assert not S.PREPARING.manifest_available and S.RUNNING.manifest_available
