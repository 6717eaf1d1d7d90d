"""rkt.cli.flags and rkt.cli.tabwriter against Go itself: spf13/pflag and text/tabwriter,
through tests/unit/gocheck/check.go (built here with Debian's golang-go and pflag sources,
which scripts/setup.sh installs).

Hypothesis writes command lines from the words that matter to pflag (booleans with and without
values, values as the next word, optional values, ``--``, ``-``, shorthands, unknown and
malformed flags, plain words); both parsers must accept or refuse each one alike, and when they
accept it, give every flag the same value and leave the same arguments. Error messages are
not compared: rkt 1.30 vendored an older pflag, whose words rkt.cli.flags keeps.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rkt.cli.flags import BoolFlag, Flag, FlagSet, ListFlag, Namespace, UsageError
from rkt.cli.tabwriter import tabwrite

GOPATH_SOURCES = Path("/usr/share/gocode")
SOURCE = Path(__file__).parent / "gocheck" / "check.go"

pytestmark = pytest.mark.skipif(
    shutil.which("go") is None or not (GOPATH_SOURCES / "src/github.com/spf13/pflag").is_dir(),
    reason="needs Go and pflag's sources (scripts/setup.sh installs golang-go and "
    "golang-github-spf13-pflag-dev)",
)

#: The flags of the command lines: one of each kind rkt's commands have.
SPECS: list[dict[str, str]] = [
    {"name": "debug", "kind": "bool", "default": "false", "noopt": "true"},
    {"name": "help", "kind": "bool", "default": "false", "noopt": "true", "shorthand": "h"},
    {"name": "dir", "kind": "string", "default": "/var/lib/rkt"},
    {"name": "net", "kind": "string", "default": "default", "noopt": "default"},
    {"name": "dns", "kind": "list"},
    {"name": "tags", "kind": "slice"},
]
WORDS = [
    "--debug", "--debug=false", "--debug=T", "--debug=0", "--debug=yes", "--debug=",
    "--help=false", "-h", "-h=false", "-hh", "-x", "-hx",
    "--dir", "--dir=/a", "--dir=", "--net", "--net=host", "--net=", "--dns", "--dns=1.1.1.1",
    "--dns=a,b", "--tags", "--tags=a,b", '--tags="a,b",c', '--tags=a"b', "--tags=",
    "--", "-", "", "word", "false", "true", "host", "--nope", "--nope=1", "---x", "--=x",
]  # fmt: skip


def ours(interspersed: bool, args: list[str]) -> dict[str, Any]:
    flags = FlagSet()
    for spec in SPECS:
        name, kind = spec["name"], spec["kind"]
        if kind == "bool":
            flags.add(
                BoolFlag(name, "", spec["default"] == "true", shorthand=spec.get("shorthand", ""))
            )
        elif kind == "string":
            flags.add(Flag(name, "", spec["default"], no_opt=spec.get("noopt", "")))
        else:
            flags.add(ListFlag(name, "", split=kind == "slice"))
    flags.interspersed = interspersed
    ns = Namespace()
    try:
        rest = flags.parse(args, ns)
    except UsageError:
        return {"ok": False}
    flags.defaults(ns)
    values = {spec["name"]: getattr(ns, spec["name"]) for spec in SPECS}
    return {"ok": True, "values": values, "changed": sorted(ns.given_flags), "args": rest}


class Go:
    def __init__(self, binary: Path) -> None:
        self.process = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    def parse(self, interspersed: bool, args: list[str]) -> dict[str, Any]:
        answer = self.ask({"flags": SPECS, "interspersed": interspersed, "args": args})
        if not answer["ok"]:
            return {"ok": False}
        return {
            "ok": True,
            "values": answer["values"],
            "changed": sorted(answer.get("changed") or []),
            "args": answer.get("args") or [],
        }


@pytest.fixture(scope="module")
def go(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Go]:
    root = tmp_path_factory.mktemp("gocheck")
    package = root / "src" / "gocheck"
    package.mkdir(parents=True)
    shutil.copy(SOURCE, package / "check.go")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": f"{root}:{GOPATH_SOURCES}",
           "GOCACHE": str(root / "cache"), "GOFLAGS": ""}  # fmt: skip
    subprocess.run(["go", "build", "-o", str(root / "check"), "."], cwd=package, env=env,
                   check=True)  # fmt: skip
    checker = Go(root / "check")
    yield checker
    checker.process.kill()
    checker.process.wait()


@settings(max_examples=400, deadline=None)
@given(
    interspersed=st.booleans(),
    args=st.lists(st.one_of(st.sampled_from(WORDS), st.text('ab-=," ', max_size=6)), max_size=8),
)
def test_command_lines_parse_as_pflag_parses_them(
    go: Go, interspersed: bool, args: list[str]
) -> None:
    args = [a for a in args if not a.startswith("-test.")]  # pflag skips Go's test flags
    assert ours(interspersed, args) == go.parse(interspersed, args)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.text("ab --=[]", max_size=12), min_size=1, max_size=4).map("\t".join),
        max_size=8,
    ).map("\n".join)
)
def test_text_is_laid_out_as_gos_tabwriter_lays_it_out(go: Go, text: str) -> None:
    assert tabwrite(text) == go.ask({"tabwrite": text})["text"]


def test_the_help_pages_of_every_command_are_laid_out_as_by_go(go: Go) -> None:
    """The real thing: each help page's text before alignment, through Go's tabwriter."""
    from rkt.cli import usage
    from rkt.cli.commands import COMMANDS, Command

    captured: list[str] = []
    original = usage.tabwrite
    try:
        usage.tabwrite = lambda text: captured.append(text) or original(text)  # type: ignore[assignment,func-returns-value]
        for entry in [None, *COMMANDS]:
            command = Command(() if entry is None else entry.path)
            mine = usage.help_text(command, "1.30.0")
            assert mine == go.ask({"tabwrite": captured[-1]})["text"], command.path
    finally:
        usage.tabwrite = original  # type: ignore[assignment]
