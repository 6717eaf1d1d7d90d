"""``rkt enter [--app=NAME] UUID [CMD [ARGS...]]``: run a command in a running app's jail.

stage0 checks that the pod is running and picks the app (``--app`` is needed when the pod has
several), then execs stage1's ``enter`` entry, which joins the app's namespaces, root,
credentials and capability sets (docs/security.md 10) and runs CMD (``/bin/sh`` when none is given);
the status is CMD's, or 254 when entering failed (rkt/enter.go).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rkt.errors import PodError
from rkt.pod import info
from rkt.pod.pod import Pod
from rkt.pod.state import PodState

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

DEFAULT_COMMAND = "/bin/sh"


USE = "enter [--app=APPNAME] [-t] UUID [CMD [ARGS ...]]"
DESCRIPTION = f"""\
UUID is a running pod's UUID (or an unambiguous prefix of it). CMD runs in the app's jail:
its namespaces, root, user, capabilities and seccomp filter; {DEFAULT_COMMAND} when no CMD is
given. It has no terminal of the caller's: with -t it gets one of its own, relayed to this one."""


def add_arguments(flags: FlagSet) -> None:
    flags.add_string("app", "", "the app to enter (needed when the pod has several)")
    flags.add_bool(
        "tty", False, "give CMD a terminal of its own, relayed to this one", shorthand="t"
    )
    # Everything after the UUID is the command, flags included (cobra's SetInterspersed(false)).
    flags.interspersed = False
    flags.arg("uuid", "UUID", complete="pods:running")
    flags.rest("command", "CMD [ARGS ...]", complete="none")


def choose_app(pod: Pod, wanted: str, verb: str = "enter") -> str:
    """The app to enter: ``wanted`` if the pod has it, else the only one."""
    names = [app.name for app in info.apps(pod)]
    if wanted:
        if wanted not in names:
            raise PodError(
                f'app "{wanted}" not found in pod {pod.uuid}', hint=f"apps: {', '.join(names)}"
            )
        return wanted
    if not names:
        raise PodError(f"pod {pod.uuid} contains zero apps")
    if len(names) > 1:
        sys.stderr.write("Pod contains multiple apps:\n")
        for name in names:
            sys.stderr.write(f"\t{name}\n")
        raise PodError(f'specify app using "rkt {verb} --app= ..."')
    return names[0]


def run(args: Namespace, config: Config) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    with Pod.load(config.pods, args.uuid) as pod:
        if pod.state is not PodState.RUNNING:
            raise PodError(f'pod "{pod.uuid}" isn\'t currently running', hint=str(pod.state))
        app = choose_app(pod, args.app)
        pod_dir = pod.path
    if not command:
        sys.stderr.write(f'enter: no command specified, assuming "{DEFAULT_COMMAND}"\n')
        command = [DEFAULT_COMMAND]
    from rkt.stage0.enter import enter

    enter(pod_dir, app, command, tty=args.tty)
