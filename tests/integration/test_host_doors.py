"""The host doors of the red-team pass (docs/security.md 9, 10, 12, 13), each tried for real from a
default pod: the attack itself runs in the pod (tests/integration/attacker.c, built static)
or, for the terminal, in a bash on a real pty that runs ``rkt``. Each test failed on the code
before its fix. docs/security.md lists them with the class each guards.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import pty
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration import podkit
from tests.integration.podkit import RKT, make_image, rkt, run_pod

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(not podkit.is_root_with_busybox(), reason="needs root and busybox-static"),
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc for the attacker"),
]

TIMEOUT = 60
ATTACKER = Path(__file__).with_name("attacker.c")
APPLETS = ("ping", "ip", "head")


@pytest.fixture(scope="module")
def attacker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("attacker") / "attacker"
    subprocess.run(
        ["gcc", "-static", "-O1", "-Wall", "-Wextra", "-Werror", "-o", str(out), str(ATTACKER)],
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def base_applets() -> tuple[str, ...]:
    return APPLETS  # what the attacks run besides the attacker


@pytest.fixture(scope="module")
def base(base: Path, attacker: Path) -> Path:
    """The common base with the attacker as /bin/attacker."""
    shutil.copy(attacker, base / "bin/attacker")
    return base


def image(
    base: Path,
    tmp_path: Path,
    exec_: list[str],
    customize: Callable[[Path], None] | None = None,
    **app: Any,
) -> Path:
    name = f"door{uuid.uuid4().hex[:8]}"
    return make_image(base, tmp_path, name, {"exec": exec_, **app}, customize=customize)


def start(data: Path, aci: Path, tmp_path: Path, *words: str) -> tuple[str, subprocess.Popen[str]]:
    """A pod in the background, its app running (READY on its stdout); its UUID."""
    uuid_file, out = tmp_path / f"{aci.stem}.uuid", tmp_path / f"{aci.stem}.out"
    proc = subprocess.Popen(
        [*RKT, f"--dir={data}", "--insecure-options=image", "run", *words, str(aci),
         f"--uuid-file-save={uuid_file}"],
        stdout=out.open("w"), stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    while not (uuid_file.exists() and uuid_file.read_text().strip() and "READY" in out.read_text()):
        assert proc.poll() is None, out.read_text()
        assert time.monotonic() < deadline, out.read_text()
        time.sleep(0.05)
    return uuid_file.read_text().strip(), proc


def stop(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


# --- 1. the caller's terminal (TIOCSTI) ----------------------------------------------------


class Shell:
    """An interactive bash on a new pty, as an admin's terminal."""

    def __init__(self, cwd: Path) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(cwd)
            env = {"PATH": os.environ["PATH"], "TERM": "dumb", "PS1": "$ ", "HOME": str(cwd)}
            os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "-i"], env)
        self.output = b""

    def send(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def wait_for(self, text: str, timeout: float = TIMEOUT) -> None:
        """Until ``text`` (a regular expression) shows in the output."""
        deadline = time.monotonic() + timeout
        while not re.search(text.encode(), self.output):
            left = deadline - time.monotonic()
            assert left > 0, self.output.decode(errors="replace")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                with contextlib.suppress(OSError):
                    self.output += os.read(self.fd, 65536)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


def _command(data: Path, *words: str) -> str:
    python = sys.executable
    return " ".join([python, "-m", "rkt.cli.main", f"--dir={data}", *words])


def _settle(shell: Shell) -> None:
    """Let bash read everything in its input queue (an injected line comes before this one)."""
    token = f"SETTLED{uuid.uuid4().hex[:6]}"
    shell.send(f"echo {token[:4]}''{token[4:]}")
    shell.wait_for(token)


@pytest.mark.parametrize("seccomp", ["default", "off"])
def test_run_app_cannot_push_keystrokes_into_the_callers_shell(
    base: Path, tmp_path: Path, data: Path, seccomp: str
) -> None:
    """The app pushes ``touch MARKER`` into the terminal of the bash that ran ``rkt run``
    (through 0-2 and /dev/tty); nothing reaches bash's input, with or without the seccomp
    filter: the app has no controlling terminal of the host's."""
    marker = tmp_path / "injected"
    aci = image(base, tmp_path, ["/bin/attacker", "tiocsti", f"touch {marker}"])
    insecure = "image,seccomp" if seccomp == "off" else "image"
    shell = Shell(tmp_path)
    try:
        shell.send(_command(data, f"--insecure-options={insecure}", "run", "--net=none", str(aci))
                   + "; echo EXIT$?END")  # fmt: skip
        shell.wait_for(r"EXIT\d+END")
        _settle(shell)
    finally:
        shell.close()
    out = shell.output.decode(errors="replace")
    assert "tiocsti fd" not in out or ": ok" not in out, out
    assert not marker.exists(), out


def test_interactive_app_types_only_into_its_own_terminal(
    base: Path, tmp_path: Path, data: Path
) -> None:
    """``--interactive`` gives the app a pty of its own that rkt relays: what it pushes into its
    terminal's input (here without the seccomp filter that would refuse it) stays in the pod."""
    marker = tmp_path / "injected-interactive"
    aci = image(base, tmp_path, ["/bin/attacker", "tiocsti", f"touch {marker}"])
    shell = Shell(tmp_path)
    try:
        shell.send(_command(data, "--insecure-options=image,seccomp", "run", "--interactive",
                            "--net=none", str(aci)) + "; echo EXIT$?END")  # fmt: skip
        shell.wait_for(r"EXIT\d+END")
        _settle(shell)
    finally:
        shell.close()
    out = shell.output.decode(errors="replace")
    assert "tiocsti fd 0: ok" in out, out  # its own pty takes it...
    assert not marker.exists(), out  # ...and nothing reaches the caller's shell


def test_enter_with_a_terminal_of_its_own(base: Path, tmp_path: Path, data: Path) -> None:
    """``rkt enter -t`` runs the command on a new pty relayed to the caller's terminal; pushing
    input into it (the app has no filter here) reaches nothing outside."""
    marker = tmp_path / "injected-enter"
    aci = image(base, tmp_path, ["/bin/sh", "-c", "echo READY; exec sleep 600"])
    pod, proc = start(data, aci, tmp_path, "--net=none", "--insecure-options=image,seccomp")
    shell = Shell(tmp_path)
    try:
        script = f"tty; /bin/attacker tiocsti 'touch {marker}'"
        shell.send(_command(data, "enter", "-t", pod, "/bin/sh", "-c", f'"{script}"')
                   + "; echo EXIT$?END")  # fmt: skip
        shell.wait_for("EXIT0END")
        _settle(shell)
    finally:
        shell.close()
        stop(proc)
    out = shell.output.decode(errors="replace")
    assert "/dev/pts/" in out and "tiocsti fd 0: ok" in out, out
    assert not marker.exists(), out


def test_entered_command_cannot_push_keystrokes(base: Path, tmp_path: Path, data: Path) -> None:
    """A binary planted in the pod and run by ``rkt enter`` from an admin's shell gets no
    terminal of the host's to inject into either."""
    marker = tmp_path / "entered"
    aci = image(base, tmp_path, ["/bin/sh", "-c", "echo READY; exec sleep 600"])
    pod, proc = start(data, aci, tmp_path, "--net=none")
    shell = Shell(tmp_path)
    try:
        shell.send(_command(data, "enter", pod, "/bin/attacker", "tiocsti", f"'touch {marker}'")
                   + "; echo EXIT$?END")  # fmt: skip
        shell.wait_for(r"EXIT\d+END")
        _settle(shell)
    finally:
        shell.close()
        stop(proc)
    out = shell.output.decode(errors="replace")
    assert "EXIT1END" in out, out  # the attacker got nowhere
    assert not marker.exists(), out


# --- 2. the runtime's executable through /proc/<pid>/exe -----------------------------------


@pytest.fixture
def python_copy(tmp_path: Path) -> Path:
    """A second interpreter: a venv made with --copies, as a reinstalled or upgraded python
    would be (a file the pod's PID 1 does not keep busy)."""
    venv = tmp_path / "venv-copy"
    subprocess.run(
        [os.path.realpath(sys.executable), "-m", "venv", "--copies", "--without-pip", str(venv)],
        check=True,
    )
    return venv / "bin" / "python3"


def _with_libraries(root: Path) -> None:
    """The dynamic loader and the libraries the host's interpreter needs, as any image of a
    glibc distribution has them: without them the kernel could not start it in the pod."""
    listed = subprocess.run(["ldd", os.path.realpath(sys.executable)], capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    for word in listed.split():
        if word.startswith("/") and os.path.exists(word):
            target = root / word.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(os.path.realpath(word), target)


def test_enter_does_not_expose_the_runtimes_executable(
    base: Path, tmp_path: Path, data: Path, python_copy: Path
) -> None:
    """CVE-2019-5736 through ``rkt enter``: the pod's /evil starts with ``#!/proc/self/exe``,
    so entering it runs the entering process's executable in the pod; a watcher in the pod
    holds it through /proc/<pid>/exe and writes it once it is no longer busy. The host's
    interpreter stays intact."""
    before = hashlib.sha256(python_copy.read_bytes()).hexdigest()
    script = (
        "printf '#!/proc/self/exe\\n' > /evil; chmod 755 /evil; "
        "/bin/attacker exewatch python /watch.out & "
        "/bin/attacker exewatch memfd /watch-memfd.out & "
        "echo READY; wait"
    )
    aci = image(base, tmp_path, ["/bin/sh", "-c", script], customize=_with_libraries)
    pod, proc = start(data, aci, tmp_path, "--net=none")
    env = dict(os.environ)
    site = [p for p in sys.path if p.endswith("site-packages")]
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2] / "src"), *site])
    try:
        for _ in range(5):  # the interpreter dies at once in the pod (no stdlib there)
            try:
                subprocess.run(
                    [str(python_copy), "-m", "rkt.cli.main", f"--dir={data}", "enter", pod,
                     "/evil"],
                    env=env, capture_output=True, timeout=TIMEOUT, check=False,
                )  # fmt: skip
            except OSError as err:  # ETXTBSY: the pod holds it open for writing
                pytest.fail(f"the pod got the host's interpreter: {err}")
        watched = {}
        for name in ("watch.out", "watch-memfd.out"):
            done = rkt(data, "enter", pod, "/bin/sh", "-c", f"cat /{name} 2>/dev/null")
            watched[name] = done.stdout
    finally:
        stop(proc)
    assert hashlib.sha256(python_copy.read_bytes()).hexdigest() == before, watched
    assert "write: ok" not in "".join(watched.values()), watched


def test_pid1_shows_no_host_path(base: Path, tmp_path: Path, data: Path) -> None:
    """The pod's PID 1 is a sealed copy of rkt-stage1 in an empty root: its command line, its
    mount table and its executable's name say nothing of the host's paths (the data dir)."""
    script = "cat /proc/1/cmdline; echo; cat /proc/1/mountinfo; readlink /proc/1/exe; true"
    aci = image(base, tmp_path, ["/bin/sh", "-c", script])
    done = run_pod(data, str(aci))
    assert done.returncode == 0, done.stderr
    assert str(data) not in done.stdout and str(tmp_path) not in done.stdout, done.stdout
    assert done.stdout.startswith("rkt-stage1\x00init"), done.stdout
    mounts = [line for line in done.stdout.splitlines() if " - " in line]
    assert len(mounts) == 1 and " / / " in mounts[0] and "tmpfs" in mounts[0], done.stdout


# --- 3. entered processes in the pod's cgroups ---------------------------------------------


def _pod_cgroups(data: Path, pod: str) -> dict[str, Any]:
    record = next((data / "pods").glob(f"*/{pod}/stage1/cgroup"))
    return json.loads(record.read_text())  # type: ignore[no-any-return]


def test_entered_processes_count_in_the_pods_cgroups(
    base: Path, tmp_path: Path, data: Path
) -> None:
    """What ``rkt enter`` runs, and what that forks, is in the app's cgroup: the pod's
    pids.current counts it (rkt CVE-2019-10147)."""
    aci = image(base, tmp_path, ["/bin/sh", "-c", "echo READY; exec sleep 600"])
    pod, proc = start(data, aci, tmp_path, "--net=none")
    entered = None
    try:
        record = _pod_cgroups(data, pod)
        pids_dir = Path(record["dirs"]["pids"])
        before = int((pids_dir / "pids.current").read_text())
        entered = subprocess.Popen(
            [*RKT, f"--dir={data}", "enter", pod, "/bin/sh", "-c", "sleep 601 & exec sleep 602"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        app_dirs = {Path(d, sorted(record["apps"])[0]) for d in record["dirs"].values()}

        def entered_sleeps() -> list[str]:
            """The entered sleeps (601 and 602) that are in the app's cgroup everywhere."""
            found = []
            for p in Path("/proc").iterdir():
                with contextlib.suppress(OSError):
                    if p.name.isdigit() and (p / "cmdline").read_bytes() in (
                        b"sleep\x00601\x00", b"sleep\x00602\x00"
                    ) and all(p.name in (d / "cgroup.procs").read_text().split()
                              for d in app_dirs):  # fmt: skip
                        found.append(p.name)
            return found

        deadline = time.monotonic() + TIMEOUT
        while len(entered_sleeps()) < 2:
            assert entered.poll() is None
            assert time.monotonic() < deadline, (pids_dir / "pids.current").read_text()
            time.sleep(0.05)
        assert int((pids_dir / "pids.current").read_text()) >= before + 2
    finally:
        if entered is not None:
            entered.kill()
            entered.wait()
        stop(proc)


# --- 4. the host's loopback through route_localnet -----------------------------------------


def _subnet() -> ipaddress.IPv4Network:
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    used += subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for _ in range(100):
        net = ipaddress.IPv4Network(f"172.30.{random.randrange(256)}.0/24")
        if str(net.network_address).rpartition(".")[0] + "." not in used:
            return net
    pytest.skip("no free test subnet")


@pytest.mark.skipif(not os.access("/usr/lib/cni/portmap", os.X_OK), reason="needs CNI plugins")
def test_raw_frame_to_the_hosts_loopback_is_dropped(base: Path, tmp_path: Path, data: Path) -> None:
    """A pod with ``--port=NAME:127.0.0.1:PORT`` (portmap turns route_localnet on for its
    veth) sends raw UDP frames to 127.0.0.1 from its eth0 (CAP_NET_RAW is in the default set),
    then a plain datagram to the host's end of its veth as a marker. The marker arrives; the
    frames do not reach a host service bound to 127.0.0.1 (CVE-2020-8558)."""
    net = _subnet()
    etc = tmp_path / "etc"
    (etc / "net.d").mkdir(parents=True)
    conf = {
        "cniVersion": "1.0.0",
        "name": "doornet",
        "type": "ptp",
        "ipMasq": False,
        "ipam": {"type": "host-local", "subnet": str(net), "dataDir": str(tmp_path / "leases")},
    }
    (etc / "net.d/10-doornet.conf").write_text(json.dumps(conf))
    with contextlib.ExitStack() as stack:
        loopback = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        loopback.bind(("127.0.0.1", 0))
        marker = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        marker.bind(("0.0.0.0", 0))  # reached only from the pod, through its veth
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            forwarded = free.getsockname()[1]
        script = (
            f"ping -c 1 -W 5 {net.network_address + 1} >/dev/null; "
            f"/bin/attacker rawudp eth0 {loopback.getsockname()[1]} SECRET; "
            f"/bin/attacker marker eth0 {marker.getsockname()[1]}"
        )
        aci = image(
            base, tmp_path, ["/bin/sh", "-c", script],
            ports=[{"name": "web", "protocol": "tcp", "port": 8080}],
        )  # fmt: skip
        done = rkt(data, f"--local-config={etc}", "--insecure-options=image", "run",
                   "--net=doornet", f"--port=web:127.0.0.1:{forwarded}", str(aci))  # fmt: skip
        assert "rawudp sent: ok" in done.stdout, (done.stdout, done.stderr)
        marker.settimeout(TIMEOUT)
        assert marker.recv(64) == b"MARK\n"  # every frame before it has been through INPUT
        loopback.setblocking(False)
        with pytest.raises(BlockingIOError):
            loopback.recv(64)


# --- hardening ---------------------------------------------------------------------------


def test_default_pod_cannot_make_namespaces_or_vsock_sockets(
    base: Path, tmp_path: Path, data: Path
) -> None:
    aci = image(base, tmp_path, ["/bin/sh", "-c", "attacker userns; attacker vsock; true"])
    done = run_pod(data, str(aci))
    assert done.returncode == 0, done.stderr
    assert "clone newuser: Operation not permitted" in done.stdout, done.stdout
    assert "clone3 newuser: Function not implemented" in done.stdout, done.stdout
    # unshare is not in the default whitelist at all: the filter kills the caller.
    assert "unshare newuser: killed by signal 31" in done.stdout, done.stdout
    assert "vsock: Operation not permitted" in done.stdout, done.stdout


def test_cap_sys_admin_may_make_namespaces(base: Path, tmp_path: Path, data: Path) -> None:
    """Asked for (CAP_SYS_ADMIN retained), a user namespace can be made, as under Docker's
    default profile; the other refusals stay."""
    aci = image(base, tmp_path, ["/bin/sh", "-c", "attacker userns; attacker vsock; true"])
    done = run_pod(data, str(aci), "--caps-retain=CAP_SYS_ADMIN,CAP_SETUID,CAP_SETGID")
    assert done.returncode == 0, done.stderr
    assert "clone newuser: ok" in done.stdout, done.stdout
    assert "vsock: Operation not permitted" in done.stdout, done.stdout


def test_inheritable_capabilities_are_empty(base: Path, tmp_path: Path, data: Path) -> None:
    aci = image(base, tmp_path, ["/bin/grep", "-E", "^Cap(Inh|Prm)", "/proc/self/status"])
    done = run_pod(data, str(aci))
    assert done.returncode == 0, done.stderr
    fields = dict(line.split(":\t") for line in done.stdout.splitlines())
    assert int(fields["CapInh"], 16) == 0, done.stdout
    assert int(fields["CapPrm"], 16) != 0, done.stdout  # root keeps its permitted set


@pytest.mark.parametrize(("limit", "expected"), [(None, "2048"), (4096, "4096")])
def test_pods_have_a_pids_limit_by_default(
    base: Path, tmp_path: Path, data: Path, limit: int | None, expected: str
) -> None:
    app: dict[str, Any] = {}
    if limit is not None:
        app["isolators"] = [{"name": "rkt.coreos.com/pids-limit", "value": {"max": limit}}]
    aci = image(base, tmp_path, ["/bin/sh", "-c", "echo READY; exec sleep 600"], **app)
    pod, proc = start(data, aci, tmp_path, "--net=none")
    try:
        record = _pod_cgroups(data, pod)
        assert Path(record["dirs"]["pids"], "pids.max").read_text().strip() == expected
    finally:
        stop(proc)


def test_control_characters_are_escaped_in_list_output(
    base: Path, tmp_path: Path, data: Path
) -> None:
    """A label that would retitle the window and a newline that would forge a row are shown
    escaped by ``rkt image list`` and ``rkt list``; JSON keeps them exact."""
    hostile = "1\x1b]0;owned\x07\nforged"
    patched = tmp_path / "hostile.aci"
    layout = tmp_path / "hostile.layout"
    (layout / "rootfs").mkdir(parents=True)
    manifest = {
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": "example.com/hostile",
        "labels": [{"name": "version", "value": hostile}],
        "app": {"exec": ["/bin/echo", "hi"], "user": "0", "group": "0"},
    }
    (layout / "manifest").write_text(json.dumps(manifest))
    shutil.copytree(base, layout / "rootfs", dirs_exist_ok=True)
    from appc.aci.builder import build

    build(layout, patched)
    done = run_pod(data, str(patched))
    assert done.returncode == 0, done.stderr
    for words in (("image", "list"), ("list",)):
        listed = rkt(data, *words)
        assert listed.returncode == 0, listed.stderr
        assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout, listed.stdout
        assert "forged" not in "".join(
            line for line in listed.stdout.splitlines() if line.startswith("forged")
        ), listed.stdout
    assert "\\x1b]0;owned\\a\\nforged" in rkt(data, "image", "list").stdout
    raw = rkt(data, "image", "list", "--format=json").stdout
    assert any(hostile in str(value) for entry in json.loads(raw) for value in entry.values()), raw
