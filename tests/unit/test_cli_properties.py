"""Every command line gets an answer, never a traceback: a usage error is one line on stderr
and status 254 (help 0, a missing command 2).

Hypothesis writes command lines from the commands, their flags (with good, bad and missing
values), words and ``--``; main() runs them with each verb's work replaced by the part that
reads the command line (run and prepare read their images and per-app flags, fetch its
images), so nothing is fetched, prepared or run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rkt.cli import main as cli_main
from rkt.cli.commands import COMMANDS, Command
from rkt.cli.flags import Namespace
from rkt.config import Config

_NAMES = sorted({w for e in COMMANDS for w in e.path} | {"ima", "ver", "r", "st", "bogus"})
_FLAGS = sorted({
    f"--{name}" for entry in [None, *COMMANDS]
    for name in Command(() if entry is None else entry.path).flags.flags
})  # fmt: skip
_VALUES = ["", "true", "false", "T", "0", "x", "1s", "-1h", "json", "host", "none", "default",
           "a=b", "/tmp", "http:80", "16M", "500m", "CAP_CHOWN", "mode=retain,chown", "asc",
           "parent", "never", "volume=v,target=/v", "v,kind=empty", "image,tls"]  # fmt: skip
_WORDS = ["--", "---", "-", "-h", "-x", "img", "example.com/app:1.0", "sha512-abc", "uuid",
          "bash", "--nope", "--=", "---x"]  # fmt: skip


def _verb_stub(command: Command, ns: Namespace, config: Config) -> int:
    """What the verb reads of its command line, without doing anything."""
    del config
    if command.path in (("run",), ("prepare",)):
        from rkt.cli.prepare import parse_command

        parse_command(ns, run=command.path == ("run",))
    elif command.path[-1] == "fetch":
        from rkt.cli.fetch import parse_images

        parse_images(list(ns.images), ns.signature, command.flags.value_flags(per_app=False))
    return 0


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    original = cli_main._run

    def run(command: Command, ns: Namespace, own_process: bool = False) -> int:
        assert command.module is not None

        class Module:
            @staticmethod
            def run(args: Namespace, config: Config) -> int:
                return _verb_stub(command, args, config)

        command.module = Module  # type: ignore[assignment]
        return original(command, ns, own_process)

    monkeypatch.setattr(cli_main, "_run", run)
    # No profile files and no configuration from this host's /etc/rkt.
    monkeypatch.setattr(cli_main, "_Profile", _NoProfile)
    monkeypatch.chdir(tmp_path)


class _NoProfile:
    def __init__(self, ns: Namespace) -> None:
        pass

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        pass


_flag_words = st.one_of(
    st.sampled_from(_FLAGS),
    st.tuples(st.sampled_from(_FLAGS), st.sampled_from(_VALUES)).map("=".join),
)
_argv = st.lists(
    st.one_of(st.sampled_from(_NAMES), _flag_words, st.sampled_from(_VALUES + _WORDS),
              st.text(max_size=8)),
    max_size=10,
)  # fmt: skip


@settings(
    max_examples=max(600, settings.default.max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(argv=_argv)
def test_every_command_line_gets_an_answer(
    stubbed: None, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    argv = [a for a in argv if not a.startswith(("--cpuprofile", "--memprofile"))]
    code = cli_main.main(argv)
    captured = capsys.readouterr()
    event(f"status {code}")
    assert "Traceback" not in captured.err
    assert code in (0, 2, 254), (argv, code, captured.err)
    if code == 254:
        lines = [line for line in captured.err.splitlines() if not line.startswith("Flag --")]
        assert len(lines) == 1, (argv, captured.err)
    if code == 2:
        assert captured.err == "rkt: missing command\n"


def test_debug_shows_the_causes_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from rkt.errors import StoreError

    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError as inner:
            raise StoreError("cannot write /var/lib/rkt/cas/tmp/x") from inner
    except StoreError as err:
        cli_main._report("fetch", err, debug=True)
    err_lines = capsys.readouterr().err.splitlines()
    assert err_lines == [
        "fetch: cannot write /var/lib/rkt/cas/tmp/x",
        "fetch:   caused by OSError: [Errno 28] No space left on device",
    ]


@pytest.mark.parametrize("argv", [["help", "help", "--", "--"], ["help", "run", "--", "x"]])
def test_help_never_runs_a_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(argv) == 0
    assert capsys.readouterr().out.startswith(f"NAME:\n\t{argv[1]} - ")
