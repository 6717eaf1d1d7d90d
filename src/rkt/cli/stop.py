"""``rkt stop [--force] [--uuid-file=F] UUID...``: stop running pods through stage1's ``stop``.

stage1 sends SIGTERM (SIGKILL with ``--force``) to the pod's PID 1, which stops the apps in
order. Unlike rkt's, ``rkt stop`` then waits a bounded time for a pod with CNI networks to exit
and tears down what ``rkt run`` could not (rkt.stage0.netdown). Each stopped pod's UUID is printed
quoted on stdout; a pod that is not running, or could not be stopped, is a line on stderr and
makes the status 254 (rkt/stop.go).
"""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

from rkt.errors import PodError
from rkt.pod.pod import Pod, read_uuid_file
from rkt.pod.state import PodState

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

EXIT_FAILURE = 254
STAGE1_STOP = "rkt.stage1.executor.stop"


USE = "stop --uuid-file=FILE | UUID ..."


def add_arguments(flags: FlagSet) -> None:
    flags.add_bool("force", False, "kill the pod (SIGKILL) rather than stop its apps in order")
    flags.add_string("uuid-file", "", "read the pod's UUID from this file", metavar="FILE")
    flags.rest("uuids", "UUID", complete="pods:running")


def stop_command(pod: Pod, force: bool) -> list[str]:
    """stage1's ``stop`` of the flavor the pod was prepared for (rkt.stage1.fly.flavor)."""
    from rkt.stage1.fly.flavor import FlavorError, entry_module, read_flavor

    try:
        module = entry_module(read_flavor(pod.path), "stop")
    except FlavorError as err:
        raise PodError(str(err)) from err
    command = [sys.executable, "-m", module, f"--pod-dir={pod.path}"]
    if force:
        command.append("--force")
    return command


def _stop(pod: Pod, force: bool) -> str | None:
    """Ask stage1 to stop ``pod``; the reason it could not, or ``None``."""
    try:
        command = stop_command(pod, force)
    except PodError as err:
        return str(err)
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as err:
        return f"cannot run stage1 stop ({command[0]}): {err.strerror}"
    if done.returncode != 0:
        return done.stderr.strip() or f"stage1 stop exited with status {done.returncode}"
    return None


def run(args: Namespace, config: Config) -> int:
    if bool(args.uuids) == bool(args.uuid_file):
        raise PodError("stop needs UUIDs or --uuid-file, not both")
    uuids = [read_uuid_file(args.uuid_file)] if args.uuid_file else list(args.uuids)
    failed = 0
    for uuid in uuids:
        try:
            pod = Pod.load(config.data_dir / "pods", uuid)
        except PodError as err:
            sys.stderr.write(f"stop: cannot get pod: {err}\n")
            failed += 1
            continue
        with pod:
            if pod.state is not PodState.RUNNING:
                sys.stderr.write(f'stop: pod "{pod.uuid}" is not running (it is {pod.state})\n')
                failed += 1
                continue
            problem = _stop(pod, args.force)
            if problem is None:  # its network goes with it, if rkt run could not (netdown.py)
                from rkt.stage0.netdown import after_stop

                for error in after_stop(pod):
                    if config.debug:
                        sys.stderr.write(f'stop: network teardown of "{pod.uuid}": {error}\n')
        if problem is None:
            sys.stdout.write(f'"{pod.uuid}"\n')
        else:
            sys.stderr.write(f'stop: error stopping "{pod.uuid}": {problem}\n')
            failed += 1
    if failed:
        sys.stderr.write(f"stop: failed to stop {failed} pod(s)\n")
        return EXIT_FAILURE
    return 0
