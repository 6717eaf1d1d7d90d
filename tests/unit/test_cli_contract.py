"""rkt 1.30's command-line contract: every sub-command and flag, help pages, usage errors,
``rkt version``, ``rkt config``, completion scripts and man pages.

:data:`RKT_1_30` is rkt 1.30's inventory (rkt/*.go: each command's ``Flags()`` and the
root's persistent flags, with their defaults as pflag shows them), without the experimental
``app`` and ``attach`` commands; :data:`ADDITIONS` are this runtime's own flags
(docs/cli-compatibility.md). Every command must
have exactly these visible flags with these defaults, accept its deprecated and hidden ones,
and each (command, flag) must be used by some test that runs rkt.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rkt.cli import commands
from rkt.cli.commands import COMMANDS, Command
from rkt.cli.main import main, parse

#: command -> {flag: default as the help page shows it}; "~" marks a flag rkt registered
#: deprecated or hidden (accepted, not shown).
GLOBAL = {
    "debug": "[=false]", "dir": "=/var/lib/rkt", "insecure-options": "=none",
    "local-config": "=/etc/rkt", "system-config": "=/usr/lib/rkt",
    "trust-keys-from-https": "[=false]", "user-config": "=", "cpuprofile": "~",
    "memprofile": "~",
}  # fmt: skip
_STAGE1 = {f"stage1-{k}": "=" for k in ("url", "path", "name", "hash", "from-dir")}
_APP = {
    "exec": "=", "working-dir": "=", "readonly-rootfs": "=", "mount": "=", "user": "=",
    "group": "=", "supplementary-gids": "=", "name": "=", "annotation": "=",
    "user-annotation": "=", "user-label": "=", "environment": "=", "memory": "=", "cpu": "=",
    "cpu-shares": "=", "caps-retain": "=", "caps-remove": "=", "seccomp": "=",
    "oom-score-adj": "=", "cap-retain": "~", "cap-remove": "~", "signature": "=",
    "stdin": "=", "stdout": "=", "stderr": "=",
}  # fmt: skip
_POD = {
    **_STAGE1, **_APP, "port": "=", "inherit-env": "[=false]", "no-overlay": "[=false]",
    "private-users": "[=false]", "set-env": "=", "set-env-file": "=", "store-only": "~",
    "no-store": "~", "pull-policy": '="new"', "pod-manifest": '=""', "volume": "=",
}  # fmt: skip
_RUN_TIME = {
    "net": "[=default]", "dns": "=", "dns-search": "=", "dns-opt": "=", "dns-domain": '=""',
    "hosts-entry": "=", "interactive": "[=false]", "hostname": '=""', "ipc": '=""',
    "mds-register": "[=false]",
}  # fmt: skip
RKT_1_30: dict[str, dict[str, str]] = {
    "": {},
    "api-service": {"listen": '=""'},
    "cat-manifest": {"pretty-print": "[=true]", "uuid-file": '=""'},
    "completion": {},
    "config": {"pretty-print": "[=true]"},
    "enter": {"app": '=""'},
    "export": {"app": '=""', "overwrite": "[=false]"},
    "fetch": {
        "signature": "=",
        "store-only": "~",
        "no-store": "~",
        "full": "[=false]",
        "pull-policy": '="update"',
    },
    "gc": {"grace-period": "=30m0s", "expire-prepared": "=24h0m0s", "mark-only": "[=false]"},
    "image": {},
    "image cat-manifest": {"pretty-print": "[=true]"},
    "image export": {"overwrite": "[=false]"},
    "image extract": {"rootfs-only": "[=false]", "overwrite": "[=false]"},
    "image gc": {"grace-period": "=24h0m0s"},
    "image list": {
        "fields": "=id,name,size,importtime,lastused",
        "sort": "=importtime",
        "order": "=asc",
        "no-legend": "[=false]",
        "full": "[=false]",
        "format": "=",
    },
    "image render": {"rootfs-only": "[=false]", "overwrite": "[=false]"},
    "image rm": {},
    "image verify": {},
    "list": {"no-legend": "[=false]", "full": "[=false]", "format": "="},
    "metadata-service": {"listen-port": "=18112"},
    "prepare": {**_POD, "quiet": "[=false]"},
    "rm": {"uuid-file": '=""'},
    "run": {**_POD, **_RUN_TIME, "uuid-file-save": '=""'},
    "run-prepared": _RUN_TIME,
    "status": {
        "wait": '[="false"]',
        "wait-ready": '[="false"]',
        "format": "=",
        "uuid-file": '=""',
    },
    "stop": {"force": "[=false]", "uuid-file": '=""'},
    "trust": {
        "prefix": '=""',
        "root": "[=false]",
        "skip-fingerprint-review": "[=false]",
        "insecure-allow-http": "[=false]",
    },
    "version": {},
}
#: Flags this runtime has beyond rkt 1.30 (docs/cli-compatibility.md), with their defaults.
ADDITIONS: dict[str, dict[str, str]] = {
    "enter": {"tty": "[=false]"},
    "prepare": {"mds-register": "[=false]"},
    "run": {"detach": "[=false]", "log-max-size": '="16Mi"'},
    "run-prepared": {"detach": "[=false]", "log-max-size": '="16Mi"'},
    "metadata-service": {"listen-address": '="0.0.0.0"'},
}


def help_page(*words: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "rkt.cli.main", *words, "--help"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert completed.returncode == 0 and completed.stderr == "", completed.stderr
    return completed.stdout


def shown_flags(page: str, section: str) -> dict[str, str]:
    """{flag: its =DEFAULT or [=DEFAULT]} in a section of a help page."""
    match = re.search(rf"^{section}:\n((?:.+\n)+)", page, re.MULTILINE)
    if match is None:
        return {}
    flags = {}
    for line in match.group(1).splitlines():
        found = re.match(r"\s+(?:-\w, )?--([\w-]+)(\[?=[^\t]*)\t", line)
        assert found, line
        flags[found.group(1)] = found.group(2)
    return flags


def test_the_command_tree_is_rkt_1_30s() -> None:
    # rkt 1.30's experimental attach is here, and logs is this runtime's (#18).
    expected = {*RKT_1_30, "help", "image fetch", "attach", "logs"}
    assert {" ".join(e.path) for e in COMMANDS} | {""} == expected


@pytest.mark.parametrize("command", sorted(RKT_1_30))
def test_each_command_has_rkt_1_30s_flags_and_defaults(command: str) -> None:
    page = help_page(*command.split())
    visible = {k: v for k, v in RKT_1_30[command].items() if v != "~"}
    visible.update(ADDITIONS.get(command, {}))
    local = shown_flags(page, "OPTIONS")
    assert local.pop("help") == "[=false]"
    global_flags = {k: v for k, v in GLOBAL.items() if v != "~"}
    if command:
        assert local == visible
        assert shown_flags(page, "GLOBAL OPTIONS") == global_flags
    else:
        assert local == global_flags
    # Deprecated and hidden ones are accepted.
    hidden = [k for k, v in {**RKT_1_30[command], **GLOBAL}.items() if v == "~"]
    flags = Command(tuple(command.split())).flags
    for name in hidden:
        assert flags.lookup(name) is not None, name


def test_help_layout_is_rkts() -> None:
    page = help_page("image", "list")
    assert page.startswith("NAME:\n\timage list - List images in the local store\n\n")
    assert "\nUSAGE:\n\trkt image list\n" in page
    assert re.search(r"\n      --no-legend\[=false\]\t+leave out the header line\n", page)
    root = help_page()
    assert "\nVERSION:\n\t1.30.0 (Rocket " in root
    commands_section = root.split("COMMANDS:\n")[1].split("\n\n")[0].splitlines()
    names = [line.split("\t")[1] for line in commands_section]
    assert names[:3] == ["attach", "cat-manifest", "completion"]
    assert "image list" in names and "image fetch" not in names and names[-1] == "help"


def test_each_stage1_flag_has_its_own_help() -> None:
    page = help_page("run")
    lines = [line for line in page.splitlines() if "--stage1-" in line]
    assert len(lines) == 5 and len({line.split("\t")[-1] for line in lines}) == 5


def test_help_routes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["help", "run"]) == 0
    by_help = capsys.readouterr().out
    assert main(["run", "--help"]) == 0
    assert capsys.readouterr().out == by_help and "--exec=" in by_help
    assert main(["image"]) == 0
    assert "\tcat-manifest\tInspect" in capsys.readouterr().out
    assert main(["help"]) == 0 and "VERSION:" in capsys.readouterr().out
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.err == "rkt: missing command\n" and "COMMANDS:" in captured.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bogus"], 'Error: unknown command "bogus" for "rkt"'),
        (["image", "bogus"], 'Error: unknown command "bogus" for "rkt image"'),
        (["help", "bogus"], 'Error: unknown command "bogus" for "rkt"'),
        (["list", "--bogus"], "Error: unknown flag: --bogus"),
        (["--debug=maybe", "list"], 'Error: invalid argument "maybe" for --debug=maybe'),
        (["--dir=", "image", "list"], 'Error: invalid argument "" for --dir=: "" is not a valid'),
        (["gc", "--grace-period=soon"], 'Error: invalid argument "soon" for --grace-period='),
        (["list", "--format=xml"], "Invalid format option: xml"),
        (["--insecure-options=bogus", "list"], 'unknown option "bogus"'),
        (["image", "list", "--order=up"], "wrong sort order"),
        (["run", "--pull-policy=sometimes", "img"], "--pull-policy must be one of"),
        (["run", "--ipc=shared", "img"], "--ipc must be one of"),
        (["run", "--exec=/bin/sh", "img"], "--exec must follow an image"),
        (["run-prepared"], "Error: wrong number of arguments (0) for UUID; usage: rkt"),
        (["export", "a"], "Error: wrong number of arguments (1)"),
        (["status", "--uuid-file"], "Error: flag needs an argument: --uuid-file"),
        (["-x"], "Error: unknown shorthand flag: 'x' in -x"),
        (["rnu"], 'Error: unknown command "rnu" for "rkt" (did you mean'),
    ],
)
def test_usage_errors_are_one_line_and_254(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 254
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and message in captured.err, captured.err


def test_go_booleans_before_and_after_the_command() -> None:
    _, ns = parse(["--debug=false", "trust", "--skip-fingerprint-review=true", "--prefix=x"])
    assert ns.debug is False and ns.skip_fingerprint_review is True and ns.prefix == "x"
    _, ns = parse(["trust", "--debug=1", "--root=T", "--insecure-allow-http=False", "k"])
    assert (ns.debug, ns.root, ns.insecure_allow_http, ns.keys) == (True, True, False, ["k"])
    _, ns = parse(["list", "--full", "false"])  # "false" is an argument, as in pflag
    assert ns.full is True


def test_commands_by_unique_prefix() -> None:
    assert parse(["ver"])[0].path == ("version",)
    assert parse(["image", "li"])[0].path == ("image", "list")
    assert parse(["--dir", "/x", "sta", "abc"])[0].path == ("status",)


def test_global_flags_among_the_images_are_read() -> None:
    """rkt's parseApps gave the command's flag set (the global flags in it) the flags that
    stand between images; so do we."""
    from rkt.cli.prepare import parse_command

    _, ns = parse(["run", "img", "--exec=/bin/true", "--debug", "--net=host", "img2"])
    apps = parse_command(ns, run=True)
    assert [a.image for a in apps.apps] == ["img", "img2"]
    assert ns.debug is True and ns.net == "host" and apps.apps[0].exec == "/bin/true"


def test_nomads_prepare_command_line() -> None:
    """What Nomad's rkt driver sends (drivers/rkt/driver.go), parsed as rkt did."""
    from rkt.cli.prepare import parse_command

    _, ns = parse([
        "--debug=false", "prepare", "--no-overlay=true",
        "--volume=a-web-alloc,kind=host,source=/n/alloc",
        "--mount=volume=a-web-alloc,target=/alloc",
        "--set-env=K=V", "example.com/app:1.0", "--exec=/bin/app", "--memory=268435456",
        "--cpu=500", "--port=http:23456", "--user=nobody", "--group=nogroup", "--", "-x", "y",
    ])  # fmt: skip
    apps = parse_command(ns, run=False)
    (app,) = apps.apps
    assert (app.exec, app.user, app.group, app.args) == ("/bin/app", "nobody", "nogroup",
                                                         ["-x", "y"])  # fmt: skip
    assert sorted(app.isolators) == ["--cpu", "--memory"]
    assert ns.port == ["http:23456"] and ns.no_overlay and ns.set_env == ["K=V"]
    _, milli = parse(["prepare", "example.com/app", "--cpu=500m"])
    assert parse_command(milli, run=False).apps[0].isolators["--cpu"] is not None


def test_rkt_version_satisfies_integrations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 5
    assert lines[:2] == ["rkt Version: 1.30.0", "appc Version: 0.8.11"]
    assert lines[2].startswith("Rocket Version: ")
    # Nomad's fingerprint (drivers/rkt/driver.go).
    assert re.search(r"rkt [vV]ersion[:]? (\d[.\d]+)", out).group(1) == "1.30.0"  # type: ignore[union-attr]
    assert main(["--version"]) == 0 and capsys.readouterr().out == out


def test_rkt_config_merges_the_config_dirs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    system, local, user = tmp_path / "system", tmp_path / "local", tmp_path / "user"

    def write(directory: Path, kind: str, name: str, doc: dict[str, object]) -> None:
        (directory / f"{kind}.d").mkdir(parents=True, exist_ok=True)
        (directory / f"{kind}.d" / name).write_text(json.dumps({"rktVersion": "v1", **doc}))

    write(system, "auth", "a.json", {"rktKind": "auth", "domains": ["foo.com", "bar.com"],
          "type": "basic", "credentials": {"user": "sys", "password": "p"}})  # fmt: skip
    write(user, "auth", "a.json", {"rktKind": "auth", "domains": ["foo.com"], "type": "oauth",
          "credentials": {"token": "t<&>"}})  # fmt: skip
    write(local, "dockerAuth", "d.json", {"rktKind": "dockerAuth", "registries": ["r.io"],
          "credentials": {"user": "u", "password": "pw"}})  # fmt: skip
    write(local, "paths", "p.json", {"rktKind": "paths", "data": str(tmp_path / "data")})
    write(system, "stage1", "s.json", {"rktKind": "stage1", "name": "coreos.com/rkt/stage1",
          "version": "1.30.0", "location": "/usr/lib/rkt/stage1.aci"})  # fmt: skip
    dirs = [f"--system-config={system}", f"--local-config={local}", f"--user-config={user}"]
    assert main([*dirs, "config", "--pretty-print=false"]) == 0
    out = capsys.readouterr().out
    assert "\\u003c\\u0026\\u003e" in out  # Go's json escapes
    stage0 = json.loads(out)["stage0"]
    assert stage0 == [
        {"rktVersion": "v1", "rktKind": "auth", "domains": ["bar.com"], "type": "basic",
         "credentials": {"user": "sys", "password": "p"}},
        {"rktVersion": "v1", "rktKind": "auth", "domains": ["foo.com"], "type": "oauth",
         "credentials": {"token": "t<&>"}},
        {"rktVersion": "v1", "rktKind": "dockerAuth", "registries": ["r.io"],
         "credentials": {"user": "u", "password": "pw"}},
        {"rktVersion": "v1", "rktKind": "paths", "data": str(tmp_path / "data"),
         "stage1-images": ""},
        {"rktVersion": "v1", "rktKind": "stage1", "name": "coreos.com/rkt/stage1",
         "version": "1.30.0", "location": "/usr/lib/rkt/stage1.aci"},
    ]  # fmt: skip
    assert main([*dirs, "config"]) == 0
    assert capsys.readouterr().out.startswith('{\n\t"stage0": [\n\t\t{\n')
    # The paths configuration's data dir is the default --dir.
    from rkt.cli.main import config_from

    assert config_from(parse([*dirs, "list"])[1]).data_dir == tmp_path / "data"
    given = config_from(parse([*dirs, f"--dir={tmp_path}/other", "list"])[1])
    assert given.data_dir == tmp_path / "other"


def test_the_data_dir_keeps_an_administrators_modes(tmp_path: Path) -> None:
    from rkt.datadir import DataDir

    root = tmp_path / "rkt"
    root.mkdir(mode=0o750)
    os.chmod(root, 0o2750)
    DataDir(root).create()
    assert root.stat().st_mode & 0o7777 == 0o2750  # never changed
    assert (root / "cas").stat().st_mode & 0o7777 == 0o2770  # rkt's packaging modes
    assert (root / "cas" / "tree").stat().st_mode & 0o7777 == 0o2700
    for shared in ("cas/tmp", "cas/imagelocks"):  # a member of the group fetches
        assert (root / shared).stat().st_mode & 0o7777 == 0o2770
    assert (root / "tmp").stat().st_mode & 0o7777 == 0o2750
    os.chmod(root / "tmp", 0o700)
    DataDir(root).create()
    assert (root / "tmp").stat().st_mode & 0o7777 == 0o700
    fresh = tmp_path / "fresh" / "rkt"
    DataDir(fresh).create()
    assert fresh.stat().st_mode & 0o7777 == 0o2750  # not traversable by others


def test_man_pages_are_current(tmp_path: Path) -> None:
    from rkt.cli.manpage import main as write_pages

    assert write_pages([str(tmp_path)]) == 0
    committed = Path(__file__).parents[2] / "man"
    written = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert written == {p.name: p.read_text() for p in committed.iterdir()}, (
        "man/ is stale: run .venv/bin/python -m rkt.cli.manpage man"
    )
    assert {" ".join(e.path) for e in COMMANDS if not e.hidden} - {"help"} == {
        name.removeprefix("rkt-").removesuffix(".1").replace("-", " ", 1)
        if name.startswith("rkt-image-") else name.removeprefix("rkt-").removesuffix(".1")
        for name in written if name != "rkt.1"
    }  # fmt: skip
    run_page = written["rkt-run.1"]
    assert "\\fB\\-\\-memory\\fR" in run_page and "for the image it follows" in run_page


def _bash_complete(script: Path, words: list[str], fake_rkt: Path) -> list[str]:
    """Run the completion function for ``words`` (the last one being completed) in bash."""
    line = " ".join(words)
    program = (
        f"source {script}\n"
        f"COMP_WORDS=({' '.join(_bash_word(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        f"COMP_LINE={_bash_word(line)}\nCOMP_POINT=${{#COMP_LINE}}\n"
        '_rkt\nprintf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", program], capture_output=True, text=True, check=True,
        env={"PATH": f"{fake_rkt}:/usr/bin:/bin"},
    )  # fmt: skip
    return [w for w in done.stdout.splitlines() if w]


def _bash_word(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


def test_bash_completion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "rkt.bash"
    script.write_text(capsys.readouterr().out)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "rkt").write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        "  'image list --no-legend --full') printf 'sha512-aaa\\texample.com/a:1\\n' ;;\n"
        "  'list --no-legend --full') printf 'u-run\\tapp\\timg\\trunning\\tx\\n'\n"
        "      printf 'u-prep\\tapp\\timg\\tprepared\\tx\\n' ;;\n"
        "esac\n"
    )
    (fake / "rkt").chmod(0o755)
    assert "run-prepared" in _bash_complete(script, ["rkt", "ru"], fake)
    assert _bash_complete(script, ["rkt", "image", "l"], fake) == ["list"]
    assert "--exec=" in _bash_complete(script, ["rkt", "run", "--ex"], fake)
    assert _bash_complete(script, ["rkt", "run", "--net="], fake) == []
    assert _bash_complete(script, ["rkt", "--insecure-options=im"], fake) == ["image"]
    assert _bash_complete(script, ["rkt", "image", "list", "--format=j"], fake) == [
        "json", "json-pretty"]  # fmt: skip
    assert _bash_complete(script, ["rkt", "image", "rm", "sha"], fake) == ["sha512-aaa"]
    assert _bash_complete(script, ["rkt", "run-prepared", "u"], fake) == ["u-prep"]
    assert _bash_complete(script, ["rkt", "enter", "u"], fake) == ["u-run"]
    assert _bash_complete(script, ["rkt", "completion", ""], fake) == ["bash", "zsh"]
    assert _bash_complete(script, ["rkt", "--dir", "/x", "stop", "u-r"], fake) == ["u-run"]


#: (what is typed, with a tab; the command line zsh completes it to)
ZSH_CASES = [
    ("rkt image l", "image list"),
    ("rkt run --exe", "run --exec"),  # the "=" it adds goes at the newline
    ("rkt --insecure-options=al", "--insecure-options=all"),
    ("rkt completion z", "completion zsh"),
    ("rkt run-p", "run-prepared"),
    ("rkt list --format=json-p", "list --format=json-pretty"),
]


def test_zsh_completion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """zsh completes in a real interactive shell (zpty), with rkt a function that prints
    the command line it is run with."""
    if not os.path.exists("/usr/bin/zsh"):
        pytest.skip("zsh is not installed (scripts/setup.sh installs it)")
    assert main(["completion", "zsh"]) == 0
    (tmp_path / "_rkt").write_text(capsys.readouterr().out)
    typed = " ".join("$'" + text + "\\t\\n'" for text, _ in ZSH_CASES)
    driver = tmp_path / "driver.zsh"
    driver.write_text(
        "zmodload zsh/zpty\n"
        # A short first line: zle wraps a long one, and the echo would not match.
        f"zpty z 'cd {tmp_path} && zsh -f -i'\n"
        'zpty -w z \'PS1="%% "; fpath=($PWD $fpath); autoload -U compinit; '
        'compinit -u -D; function rkt() { print -r -- "ARGS<$*>END" }\'\n'
        "zpty -r z out '*ARGS<*>END*'\n"
        f"for typed in {typed}; do\n"
        '  zpty -n -w z "$typed"\n'
        "  zpty -r z out '*ARGS<*>END*'\n"
        '  print -r -- "${${out##*ARGS<}%%>END*}"\n'
        "done\n"
        "zpty -d z\n"
    )
    done = subprocess.run(["zsh", "-f", str(driver)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.stdout.splitlines() == [completed for _, completed in ZSH_CASES], done.stderr


def test_completion_needs_a_known_shell(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "fish"]) == 254
    assert "'fish' shell is not supported" in capsys.readouterr().err


def test_every_flag_is_used_by_some_test() -> None:
    """Real use: each (command, flag) of the inventory appears in a test that runs rkt."""
    root = Path(__file__).parents[1]
    text = (
        "\n".join(p.read_text() for p in root.rglob("*.py") if p.name != Path(__file__).name)
        + (root / "integration" / "nomad" / "replay.go").read_text()
    )
    missing = sorted({
        flag for flags in (*RKT_1_30.values(), GLOBAL) for flag in flags
        if flag not in ("cpuprofile", "memprofile") and f"--{flag}" not in text
    })  # fmt: skip
    assert missing == []


def test_profiles(tmp_path: Path) -> None:
    """rkt's hidden --cpuprofile and --memprofile: Python's profilers' files."""
    cpu, memory = tmp_path / "cpu", tmp_path / "mem"
    assert main([f"--cpuprofile={cpu}", f"--memprofile={memory}", "version"]) == 0
    import pstats

    assert pstats.Stats(str(cpu)).total_calls > 0
    assert memory.stat().st_size > 0


def test_the_modules_of_every_command_exist() -> None:
    for entry in COMMANDS:
        if entry.runnable:
            command = Command(entry.path)
            assert command.module is not None and command.use.split()[0] == entry.name
    assert commands.RKT_VERSION == "1.30.0"
