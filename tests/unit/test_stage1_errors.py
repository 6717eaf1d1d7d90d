"""stage1's errors are in rkt's tree (rkt.errors), and its entry points print them in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from rkt.errors import RktError, Stage1Error
from rkt.stage1.executor.enter import EnterError
from rkt.stage1.executor.setup import ExecutorError
from rkt.stage1.planner.load import LoadError
from rkt.stage1.planner.plan import PlanError


@pytest.mark.parametrize("kind", [LoadError, PlanError, ExecutorError, EnterError])
def test_stage1s_errors_are_rkt_errors(kind: type[Exception]) -> None:
    assert issubclass(kind, Stage1Error) and issubclass(kind, RktError)
    assert str(kind("no such user")) == "no such user"


def test_a_hint_follows_the_message() -> None:
    assert str(PlanError("bad user", hint="a number works")) == "bad user (a number works)"


def test_a_pod_stage1_cannot_load_is_one_line_and_254(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rkt.stage1.executor.launcher import run

    assert run(str(tmp_path), debug=False, interactive=False) == 254
    err = capsys.readouterr().err
    assert err.startswith(f"stage1: cannot read {tmp_path}/pod: ") and err.count("\n") == 1
