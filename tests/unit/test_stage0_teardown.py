"""rkt.stage0.teardown: the command the pod's monitor execs at the pod's end."""

from __future__ import annotations

from pathlib import Path

import pytest

from rkt.stage0 import teardown


def test_the_pods_status_passes_through(tmp_path: Path) -> None:
    # A pod directory with no network to tear down: nothing to do, the status is the pod's.
    assert teardown.main([f"--pod-dir={tmp_path}", "--status=3"]) == 3
    assert teardown.main([f"--pod-dir={tmp_path}", "--status=0", "--debug"]) == 0


@pytest.mark.parametrize(
    "argv",
    [[], ["--status=0"], ["--pod-dir=/x"], ["--pod-dir=/x", "--status=x"], ["--pod-dir=/x",
     "--status=1", "--what"]],
)  # fmt: skip
def test_a_wrong_command_line_is_rkts_own_failure(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert teardown.main(argv) == 254
    assert "usage: python -m rkt.stage0.teardown" in capsys.readouterr().err
