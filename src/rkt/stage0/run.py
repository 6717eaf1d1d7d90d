"""Running a prepared pod: move it to ``run/`` holding its lock and start the stage1 executor.

stage1 runs in a child rather than replacing us so that ``rkt run`` can be driven in-process
(tests, the API) and still report stage1's status; the pod's lock lives on the open file
description of the pod directory, which the child inherits, so the lock stays held for as long
as stage1 (or we) keep it open (docs/stage1-interface.md, "run").

The default executor is started by forking this process and calling its entry point: a second
interpreter would cost its start-up, its imports and its shutdown (about 65 ms of a 180 ms
``rkt run``, bench/run.py). A fork is as fresh as the stage1 interface asks only if this
process has no other thread; when it has (an API server, a test's HTTP server), stage1 is
started as ``python -m rkt.stage1.run`` instead.

The flavor recorded in the pod directory (rkt.stage1.fly.flavor) picks the executor's package:
``rkt.stage1`` (default) or ``rkt.stage1.fly``; both are started the same way.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from rkt.errors import ConfigError, PodError
from rkt.linux import tty
from rkt.pod import layout
from rkt.pod.pod import Pod
from rkt.pod.state import PodState

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable

    from rkt.config import ConfigDirs
    from rkt.net.selection import Selected
    from rkt.stage0.options import RunFlags

STAGE1_RUN = "rkt.stage1.run"
LOCK_FD_ENV = "RKT_LOCK_FD"
#: Signals that stage0 passes on to stage1, which stops the pod in order. SIGINT from a
#: terminal reaches stage1 directly (same process group), so stage0 only ignores it.
_FORWARDED = (signal.SIGTERM, signal.SIGHUP)
#: Ignored while an interactive pod runs: its app has the terminal, whose ^Z (or a background
#: read or write before the app has taken it) must not stop us (rkt.linux.tty).
_TERMINAL_STOPS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)


def stage1_command(
    pod_dir: Path, *, debug: bool, interactive: bool, module: str = STAGE1_RUN
) -> list[str]:
    command = [sys.executable, "-m", module, f"--pod-dir={pod_dir}"]
    if debug:
        command.append("--debug")
    if interactive:
        command.append("--interactive")
    return command


def run_prepared(
    pods: Path,
    uuid: str,
    *,
    debug: bool = False,
    interactive: bool = False,
    flags: RunFlags | None = None,
    config_dirs: ConfigDirs | None = None,
) -> int:
    """Run the prepared pod ``uuid`` (a prefix is enough) and return stage1's exit status.

    ``flags``: ``rkt run-prepared``'s run-time flags, which replace prepare's (no network, no
    DNS or hosts entries, the default hostname); ``config_dirs`` finds their networks."""
    with Pod.load(pods, uuid) as pod:
        if pod.state is not PodState.PREPARED:
            raise PodError(f"pod {pod.uuid} is not prepared", hint=f"it is {pod.state}")
        module = _run_module(pod)
        update = None
        if flags is not None and module == STAGE1_RUN:
            update = _run_flags_update(pod, flags, config_dirs)  # ConfigError before any change
        pod.to_run()
        if update is not None:
            update()
        # fly pods run in the host's network (rkt.stage1.fly.run).
        network = module == STAGE1_RUN and _has_networks(pod)
        setup = None
        try:
            if network and threading.active_count() == 1:
                # The forked stage1 starts the pod in the namespace made here while the
                # networks are ADDed to it; its PID 1 starts no app before they are up.
                # Only the namespace module here: the CNI client loads after the fork.
                from rkt.net import netns
                from rkt.net.files import NETNS

                netns.create(pod.path / NETNS)
                setup = partial(_setup_network, pod)
            elif network:
                _setup_network(pod)
            return _spawn(pod, debug=debug, interactive=interactive, module=module, network=setup)
        finally:
            _teardown_network(pod, debug=debug)


def _run_flags_update(
    pod: Pod, flags: RunFlags, config_dirs: ConfigDirs | None
) -> Callable[[], None]:
    """Check ``flags`` against the prepared pod (its networks exist, its ``--port`` forwards
    have a network to go to); the function that writes them into the pod once it is ours."""
    import json

    from appc.schema.pod import PodManifest
    from rkt.stage0.options import NETS, OPTIONS_FILE, apply_run_flags, port_mappings

    try:
        manifest = PodManifest.from_json((pod.path / layout.MANIFEST).read_bytes())
        document = json.loads((pod.path / OPTIONS_FILE).read_bytes())
    except OSError as err:  # moved away (gc) or damaged since it was found
        raise PodError(f"cannot read prepared pod {pod.uuid}: {err}") from err
    networks: list[Selected] = []
    if flags.net not in NETS:
        from rkt.config import ConfigDirs
        from rkt.net.selection import select

        _, networks = select(config_dirs or ConfigDirs(), flags.net)
    if manifest.ports and not networks:
        raise ConfigError(
            f"--net={flags.net}: the pod forwards ports "
            f"({', '.join(p.name for p in manifest.ports)}) and needs a network of its own",
            hint="run it with --net=default or a network from net.d",
        )

    def update() -> None:
        from rkt.stage0.prepare import write_file

        updated = apply_run_flags(document, flags)
        write_file(pod.path / OPTIONS_FILE, json.dumps(updated, indent=2).encode() + b"\n")
        if networks:
            from rkt.net.selection import save_selection

            save_selection(pod.path, networks, port_mappings(manifest.ports))

    return update


def _run_module(pod: Pod) -> str:
    """The ``run`` entry of the flavor the pod was prepared for."""
    from rkt.stage1.fly.flavor import FlavorError, entry_module, read_flavor

    try:
        return entry_module(read_flavor(pod.path), "run")
    except FlavorError as err:
        raise PodError(str(err)) from err


def _has_networks(pod: Pod) -> bool:
    from rkt.net.files import has_networks

    return has_networks(pod.path)


def _setup_network(pod: Pod) -> None:
    """ADD the pod's CNI networks into ``<pod>/netns`` while stage1 starts (rkt.net.pod).

    Here rather than in stage1: the plugins are processes of their own, so stage0 only makes the
    namespace file; the pod is already in ``run/`` and locked, so if we die from here on it becomes
    an exited pod whose gc DELs whatever the CNI cache records. A failed ADD is undone by the
    teardown after stage1 has exited (:func:`run_prepared`), not before: stage1 may be joining
    the namespace file.
    """
    from rkt.net.files import has_networks

    if has_networks(pod.path):
        from rkt.net.pod import setup

        setup(pod.path, pod.uuid, undo=False)


def _teardown_network(pod: Pod, *, debug: bool) -> None:
    """DEL the pod's networks now that stage1 has exited, before our lock is released
    (rkt.stage0.netdown); not fatal: what fails is retried by ``rkt stop`` or gc."""
    from rkt.stage0.netdown import after_run

    for error in after_run(pod):
        if debug:
            sys.stderr.write(f"run: network teardown: {error}\n")


class _Forked:
    """The default stage1 in a fork of this process, with Popen's ``send_signal``/``wait``."""

    def __init__(
        self,
        argv: list[str],
        fd: int,
        module: str = STAGE1_RUN,
        ready: tuple[int, int] | None = None,
    ) -> None:
        """``ready``: a pipe (read, write) on which stage1 (the default) is told that the
        pod's networks are up (b"1"; anything else: stage1 exits 254, stage0 reports why)."""
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 254
            try:
                os.environ[LOCK_FD_ENV] = str(fd)
                for sig in (*_FORWARDED, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                entry = importlib.import_module(module)
                if ready is not None:
                    os.close(ready[1])
                    code = entry.main(argv, network_ready=ready[0])
                else:
                    code = entry.main(argv)
            except BaseException as err:  # nothing may unwind into stage0's code in the child
                print(f"stage1: {err}", file=sys.stderr)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.pid = pid

    def send_signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def wait(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


def _bring_up(network: Callable[[], None], ready: int, child: _Forked) -> None:
    """Set the networks up while stage1 starts, then tell it; on failure stage1 is told so
    (it exits 254, quietly), reaped, and the error raised."""
    try:
        network()
    except BaseException:
        os.close(ready)
        child.wait()
        raise
    try:
        os.write(ready, b"1")
    except BrokenPipeError:
        pass  # stage1 is gone already (a signal): its status tells
    finally:
        os.close(ready)


def _pass_listen_fds() -> list[int]:
    """Socket activation: the sockets systemd passed us (``LISTEN_PID`` is ours) go on to
    stage1 as ``RKT_LISTEN_FDS``/``RKT_LISTEN_FDNAMES`` (docs/stage1-interface.md), which
    hands them to the apps whose ports are socketActivated; ``LISTEN_*`` are dropped, since
    no process but us was meant by them."""
    from rkt.linux.activation import passed

    fds = passed(os.environ, os.getpid())
    if fds:
        os.environ["RKT_LISTEN_FDS"] = str(len(fds))
        os.environ["RKT_LISTEN_FDNAMES"] = os.environ.get("LISTEN_FDNAMES", "")
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    return fds


def _spawn(
    pod: Pod,
    *,
    debug: bool,
    interactive: bool,
    module: str = STAGE1_RUN,
    network: Callable[[], None] | None = None,
) -> int:
    """Start stage1 and wait for it; its status. ``network`` (forked default stage1 only) sets
    the pod's networks up once stage1 has been forked, which waits for them (see _Forked)."""
    fd = pod.fd
    command = stage1_command(pod.path, debug=debug, interactive=interactive, module=module)
    listening = _pass_listen_fds()
    relay = None
    if module == STAGE1_RUN:
        from rkt.stage0.readiness import Relay

        relay = Relay.for_pod(pod.path, os.environ)
    previous = {
        sig: signal.getsignal(sig) for sig in (*_FORWARDED, signal.SIGINT, *_TERMINAL_STOPS)
    }
    # The terminal's foreground group before the app makes itself the foreground (rkt.linux.tty).
    foreground = tty.foreground_group(0) if interactive else None
    child: _Forked | subprocess.Popen[bytes]
    single = threading.active_count() == 1
    if network is not None and not single:
        network()  # a new interpreter is started instead: networks first, as it expects
        network = None
    ready = os.pipe2(os.O_CLOEXEC) if network is not None else None
    if single:
        child = _Forked(command[3:], fd, module, ready)
        if ready is not None:
            os.close(ready[0])
    else:
        import subprocess  # the fork above is the common case

        env = dict(os.environ)
        env[LOCK_FD_ENV] = str(fd)
        try:
            # pass_fds keeps the descriptor's number and makes it inheritable in the child only.
            child = subprocess.Popen(command, env=env, pass_fds=(fd, *listening))
        except OSError as err:
            raise PodError(f"cannot start stage1 ({command[0]}): {err.strerror}") from err

    def forward(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    # Handlers can only be installed from the main thread (an API server may call us from
    # another); there, stage1 still gets its signals from whoever signals the pod.
    main_thread = threading.current_thread() is threading.main_thread()
    try:
        if main_thread:
            for sig in _FORWARDED:
                signal.signal(sig, forward)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            for sig in _TERMINAL_STOPS if interactive else ():
                signal.signal(sig, signal.SIG_IGN)
        if network is not None and ready is not None and isinstance(child, _Forked):
            _bring_up(network, ready[1], child)
        if relay is not None:
            relay.wait(child.pid)
        status = child.wait()
        if foreground is not None:  # The app made itself the foreground; ours again.
            with contextlib.suppress(OSError):
                tty.set_foreground(0, foreground)
    finally:
        if relay is not None:
            relay.close()
        if main_thread:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    # Killed by a signal: report it the shell's way rather than as a negative number.
    return 128 - status if status < 0 else status
