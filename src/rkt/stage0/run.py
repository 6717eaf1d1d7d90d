"""Running a prepared pod: move it to ``run/`` holding its lock and start the stage1 executor.

stage1 runs in a child rather than replacing us so that ``rkt run`` can be driven in-process
(tests, the API) and still report stage1's status; the pod's lock lives on the open file
description of the pod directory, which the child inherits, so the lock stays held for as long
as stage1 (or we) keep it open (docs/stage1-interface.md, "run").

The default executor is started by forking this process and calling its entry point: a second
interpreter would cost its start-up, its imports and its shutdown (about 65 ms of a 180 ms
``rkt run``, bench/run.py). A fork is as fresh as the stage1 interface asks only if this
process has no other thread; when it has (an API server, a test's HTTP server), stage1 is
started as ``python -m rkt.stage1.executor.run`` instead.

The flavor recorded in the pod directory picks the executor's package (rkt.stage1.interface,
through which alone stage0 reaches stage1): ``rkt.stage1.executor`` (default) or
``rkt.stage1.fly``; both are started the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from rkt.errors import PodError
from rkt.linux import tty
from rkt.pod import layout
from rkt.pod.pod import Pod
from rkt.pod.state import PodState
from rkt.stage1 import interface
from rkt.stage1.interface import DEFAULT, LOCK_FD_ENV

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable

    from rkt.config import ConfigDirs
    from rkt.stage0.options import RunFlags

#: Signals that stage0 passes on to stage1, which stops the pod in order (a second SIGTERM or
#: SIGINT kills its apps: the pod's PID 1, rkt-stage1 init). A SIGINT sent to rkt's pid alone
#: (Nomad's executor stops tasks that way) must reach the pod as SIGTERM does; a terminal's ^C
#: reaches stage1 too, directly (same process group), and the pod's PID 1 takes the copies
#: that arrive together as one stop.
_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
#: Ignored while an interactive pod runs: its app has the terminal, whose ^Z (or a background
#: read or write before the app has taken it) must not stop us (rkt.linux.tty).
_TERMINAL_STOPS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)


def stage1_command(
    pod_dir: Path,
    *,
    debug: bool,
    interactive: bool,
    flavor: str = DEFAULT,
    detach: bool = False,
    log_max: int | None = None,
) -> list[str]:
    flags = ["--debug"] if debug else []
    if interactive:
        flags.append("--interactive")
    if detach:
        flags.append("--detach")
    if log_max is not None:
        flags.append(f"--log-max-size={log_max}")
    return interface.command(pod_dir, flavor, "run", *flags)


def run_prepared(
    pods: Path,
    uuid: str,
    *,
    debug: bool = False,
    interactive: bool = False,
    flags: RunFlags | None = None,
    config_dirs: ConfigDirs | None = None,
    mds_socket: str = "",
    become_monitor: bool = False,
    warn: Callable[[str], None] | None = None,
    detach: bool = False,
    log_max: int | None = None,
    pod: Pod | None = None,
) -> int:
    """Run the prepared pod ``uuid`` (a prefix is enough) and return stage1's exit status.

    ``flags``: ``rkt run-prepared``'s run-time flags, which replace prepare's (no network, no
    DNS or hosts entries, the default hostname); ``config_dirs`` finds their networks;
    ``warn`` is told what of the prepared pod is dropped (its port forwards without a
    network).
    ``mds_socket``: the metadata service's registration socket, for pods that ask for it
    (``--mds-register``; rkt.stage0.registration).
    ``become_monitor``: the caller is ``rkt run`` itself, whose process becomes the pod's
    monitor (it does not return once the pod runs); other callers get a child that does.
    ``detach``: return 0 once the pod's apps have started, the monitor going on in a
    session of its own; ``log_max``: the size at which an app's log is rotated.
    ``pod``: the pod ``rkt run`` prepared and still holds (rkt.stage0.prepare.create)."""
    with pod if pod is not None else Pod.load(pods, uuid) as pod:
        if pod.state is not PodState.PREPARED and not (
            pod.held and pod.state is PodState.PREPARING
        ):
            raise PodError(f"pod {pod.uuid} is not prepared", hint=f"it is {pod.state}")
        flavor = interface.read_flavor(pod.path)  # a FlavorError (PodError) if unreadable
        default = flavor == DEFAULT
        update = None
        if flags is not None and default:
            # ConfigError before any change
            update = _run_flags_update(pod, flags, config_dirs, warn or (lambda _: None))
        registration = _registration(pod, flags, mds_socket)  # ServiceError before any change
        pod.to_run()
        if update is not None:
            update()
        # fly pods run in the host's network (rkt.stage1.fly.run).
        network = default and _has_networks(pod)
        code = 254  # rkt's own failure, until stage1 says otherwise
        try:
            if default and threading.active_count() == 1:
                run = partial(_run_here, pod, debug=debug, interactive=interactive,
                              network=network, registration=registration, detach=detach,
                              log_max=log_max)  # fmt: skip
                code = run() if become_monitor else _in_child(run)
                return code
            if network:
                _setup_network(pod, registration)
            elif registration:
                _register(pod, registration)
            code = _spawn(pod, debug=debug, interactive=interactive, flavor=flavor,
                          teardown=network or bool(registration), detach=detach,
                          log_max=log_max)  # fmt: skip
            return code
        finally:
            # Reached only when this process did not become the pod's monitor (which tears
            # the networks down itself): a failure to start, or a stage1 we waited for; not
            # when the pod runs on detached, whose monitor will.
            if not (detach and code == 0):
                _teardown_network(pod, debug=debug)


def teardown_command(pod: Pod, *, debug: bool) -> list[str]:
    """What the pod's monitor execs once the pod is gone (rkt.stage0.teardown)."""
    command = [sys.executable, "-m", "rkt.stage0.teardown", f"--pod-dir={pod.path}"]
    return [*command, "--debug"] if debug else command


def _run_here(
    pod: Pod,
    *,
    debug: bool,
    interactive: bool,
    network: bool,
    registration: str = "",
    detach: bool = False,
    log_max: int | None = None,
) -> int:
    """Run the default stage1 in this process, which becomes the pod's monitor: returns only
    if the pod could not start. The networks are ADDed, and the pod registered with the
    metadata service, while the pod's first processes start (stage1 calls ``setup`` once it
    has forked them; no app starts before it has returned)."""
    setup: Callable[[], None] | None = None
    if network:
        # Only the namespace module here: the CNI client loads while stage1 starts.
        from rkt.net import netns
        from rkt.net.files import NETNS

        netns.create(pod.path / NETNS)
        setup = partial(_setup_network, pod, registration)
    elif registration:
        _register(pod, registration)  # its address is the host's: nothing to wait for
    os.environ[LOCK_FD_ENV] = str(pod.fd)
    _pass_listen_fds()
    main = interface.entry_point(DEFAULT, "run")
    command = stage1_command(pod.path, debug=debug, interactive=interactive, detach=detach,
                             log_max=log_max)  # fmt: skip
    teardown = teardown_command(pod, debug=debug) if network or registration else None
    code: int = main(command[3:], network=setup, teardown=teardown)
    return code


def _run_flags_update(
    pod: Pod, flags: RunFlags, config_dirs: ConfigDirs | None, warn: Callable[[str], None]
) -> Callable[[], None]:
    """Check ``flags`` against the prepared pod (its networks exist); the function that writes
    them into the pod once it is ours. Port forwards without a network of the pod's own
    (``--net=none`` or ``host``) are dropped with a warning, as rkt ran such pods."""
    from appc.schema.pod import PodManifest
    from rkt.stage0.options import apply_run_flags, port_mappings, select_networks, stage1_options
    from rkt.stage1.interface import RunOptions, read_options

    try:
        manifest = PodManifest.from_json((pod.path / layout.MANIFEST).read_bytes())
        options = read_options(pod.path) or stage1_options(RunOptions(), "none")
    except (OSError, ValueError, PodError) as err:  # moved away (gc) or damaged since found
        raise PodError(f"cannot read prepared pod {pod.uuid}: {err}") from err
    from rkt.config import ConfigDirs

    networks = select_networks(config_dirs or ConfigDirs(), flags.net)
    if manifest.ports and not networks:
        warn(
            f"--net={flags.net}: the pod's port forwards "
            f"({', '.join(p.name for p in manifest.ports)}) are dropped: they need a network "
            "of the pod's own (--net=default or a network from net.d)"
        )

    def update() -> None:
        from rkt.stage0.prepare import write_file

        write_file(pod.path / layout.OPTIONS, apply_run_flags(options, flags).to_json())
        if networks:
            from rkt.net.selection import save_selection

            save_selection(pod.path, networks, port_mappings(manifest.ports))

    return update


def _registration(pod: Pod, flags: RunFlags | None, socket: str) -> str:
    """The registration socket if the pod is to be registered with the metadata service (by
    ``flags`` or by what prepare recorded), after checking that the service is there; ""."""
    from rkt.stage0.registration import check_network
    from rkt.stage1.interface import read_options

    try:
        options = read_options(pod.path)
    except PodError:
        options = None  # stage1 reports a damaged options file
    if not ((flags is not None and flags.mds_register) or (options and options.mds_register)):
        return ""
    check_network(flags.net if flags is not None else options.net if options else "none")
    from rkt.metadata.client import check_available, socket_path

    socket = socket or socket_path()
    check_available(socket)
    return socket


def _register(pod: Pod, socket: str) -> None:
    """The pod's registration with the metadata service, its networks being up: before any
    app starts, after which the pod's end (rkt.stage0.netdown) unregisters it."""
    from rkt.stage0.registration import register

    register(pod.path, pod.uuid, socket)


def _has_networks(pod: Pod) -> bool:
    from rkt.net.files import has_networks

    return has_networks(pod.path)


def _setup_network(pod: Pod, registration: str = "") -> None:
    """ADD the pod's CNI networks into ``<pod>/netns`` while stage1 starts (rkt.net.pod), then
    register the pod with the metadata service if ``registration`` names its socket.

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
    if registration:
        _register(pod, registration)


def _teardown_network(pod: Pod, *, debug: bool) -> None:
    """DEL the pod's networks and unregister it from the metadata service now that stage1 has
    exited, before our lock is released (rkt.stage0.netdown); not fatal: what fails is retried
    by ``rkt stop`` or gc."""
    from rkt.stage0.netdown import after_run

    for error in after_run(pod):
        if debug:
            sys.stderr.write(f"run: network teardown: {error}\n")


def _in_child(run: Callable[[], int]) -> int:
    """``run`` (which becomes the pod's monitor) in a child; its status, once it has exited.
    Signals we get go on to it, as ``rkt run``'s would go to its monitor."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 254
        try:
            for sig in (*_FORWARDED, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            code = run()
        except BaseException as err:  # nothing may unwind into the caller's code in the child
            print(f"run: {err}", file=sys.stderr)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    previous = {sig: signal.getsignal(sig) for sig in (*_FORWARDED, signal.SIGINT)}

    def forward(signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    try:
        for sig in previous:
            signal.signal(sig, forward)
        _, status = os.waitpid(pid, 0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


class _Forked:
    """A stage1 flavor whose ``run`` returns (fly) in a fork of this process, with Popen's
    ``send_signal``/``wait``."""

    def __init__(self, argv: list[str], fd: int, flavor: str) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 254
            try:
                os.environ[LOCK_FD_ENV] = str(fd)
                for sig in _FORWARDED:
                    signal.signal(sig, signal.SIG_DFL)
                code = interface.entry_point(flavor, "run")(argv)
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


def _pass_listen_fds() -> list[int]:
    """Socket activation: the sockets systemd passed us (``LISTEN_PID`` is ours) go on to
    stage1 as ``RKT_LISTEN_FDS``/``RKT_LISTEN_FDNAMES`` (docs/stage1-interface.md), which
    hands them to the apps whose ports are socketActivated; ``LISTEN_*`` are dropped, since
    no process but us was meant by them."""
    from rkt.linux.activation import passed

    fds = passed(os.environ, os.getpid())
    if fds:
        os.environ[interface.LISTEN_FDS_ENV] = str(len(fds))
        os.environ[interface.LISTEN_FDNAMES_ENV] = os.environ.get("LISTEN_FDNAMES", "")
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    return fds


def _spawn(
    pod: Pod,
    *,
    debug: bool,
    interactive: bool,
    flavor: str = DEFAULT,
    teardown: bool = False,
    detach: bool = False,
    log_max: int | None = None,
) -> int:
    """Start stage1 in a child and wait for it; its status. A fork for fly (whose ``run``
    returns); a new interpreter for the default flavor when this process has other threads (an
    API server, a test's HTTP server), since its monitor replaces the process it runs in."""
    fd = pod.fd
    default = flavor == DEFAULT
    command = stage1_command(pod.path, debug=debug, interactive=interactive, flavor=flavor,
                             detach=detach and default,
                             log_max=log_max if default else None)  # fmt: skip
    listening = _pass_listen_fds() if default else []
    previous = {sig: signal.getsignal(sig) for sig in (*_FORWARDED, *_TERMINAL_STOPS)}
    # The terminal's foreground group before fly's app makes itself the foreground.
    foreground = tty.foreground_group(0) if interactive else None
    child: _Forked | subprocess.Popen[bytes]
    if threading.active_count() == 1:
        child = _Forked(command[3:], fd, flavor)
    else:
        import subprocess  # the fork above is the common case

        env = dict(os.environ)
        env[LOCK_FD_ENV] = str(fd)
        if default and teardown:
            command += [f"--teardown={w}" for w in teardown_command(pod, debug=debug)]
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
            for sig in _TERMINAL_STOPS if interactive else ():
                signal.signal(sig, signal.SIG_IGN)
        status = child.wait()
        if foreground is not None:  # The app made itself the foreground; ours again.
            with contextlib.suppress(OSError):
                tty.set_foreground(0, foreground)
    finally:
        if main_thread:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    # Killed by a signal: report it the shell's way rather than as a negative number.
    return 128 - status if status < 0 else status
