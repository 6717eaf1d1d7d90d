"""A running pod's readiness, relayed to systemd (``Type=notify`` units running ``rkt run``).

Before the pod starts, :meth:`Relay.for_pod` makes one notification socket per app whose
image supports sd_notify (``appc.io/executor/supports-systemd-notify``; stage1 binds it at
``/run/systemd/notify`` in the app: rkt.stage1.systemd_units), when there is one or when
systemd asked us for notifications (``NOTIFY_SOCKET``). While the pod runs, :meth:`Relay.wait`
does what rkt's systemd-nspawn did: the pod is ready once every app has started (stage1's
supervisor links ``supervisor-status`` to ``started``; to ``ready`` when no app notifies) and
every notify app has sent ``READY=1``; then ``supervisor-status`` becomes ``ready`` (what
``rkt status --wait-ready`` waits for) and ``READY=1`` goes to systemd.

It must run in the process systemd started (``NotifyAccess=main``): today ``rkt run`` itself;
once stage1's monitor is the compiled program that stays ``rkt run``'s process, the waiting
half moves there, fed the same sockets.
"""

from __future__ import annotations

import contextlib
import os
import select
from pathlib import Path

from rkt.linux import notify
from rkt.pod import layout

#: How often the supervisor's "started" is looked for once every notify app is ready (the
#: window between the last READY=1 and the last app's start is short).
_POLL = 0.02


class Relay:
    def __init__(self, pod_dir: Path, notify_apps: list[str], outer: str) -> None:
        from rkt.stage1.systemd_units import NOTIFY_DIR, notify_socket

        self.outer = outer
        self.status = layout.supervisor_status(str(pod_dir / layout.STAGE1_ROOTFS))
        self.waiting = set(notify_apps)
        self.listeners: dict[str, notify.Listener] = {}
        if notify_apps:
            (pod_dir / NOTIFY_DIR).mkdir(mode=0o755, parents=True, exist_ok=True)
        try:
            for app in notify_apps:
                self.listeners[app] = notify.Listener(notify_socket(str(pod_dir), app))
        except OSError:
            self.close()
            raise

    @classmethod
    def for_pod(cls, pod_dir: Path, environ: dict[str, str] | os._Environ[str]) -> Relay | None:
        """The relay the pod needs, None when nobody listens and no app notifies."""
        apps = notify_apps(pod_dir)
        outer = environ.get(notify.NOTIFY_SOCKET, "")
        return cls(pod_dir, apps, outer) if apps or outer else None

    def _supervisor(self) -> str:
        try:
            return os.readlink(self.status)
        except OSError:
            return ""

    def _mark_ready(self) -> None:
        tmp = f"{self.status}.tmp{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink("ready", tmp)
        os.rename(tmp, self.status)

    def wait(self, pid: int) -> bool:
        """Relay until the pod is ready (True) or process ``pid`` (stage1) has exited (False;
        not reaped here)."""
        try:
            exited = os.pidfd_open(pid)
        except ProcessLookupError:
            return False
        try:
            while True:
                timeout = None if self.waiting else _POLL
                watched = [exited, *(listener.fileno() for listener in self.listeners.values())]
                readable, _, _ = select.select(watched, [], [], timeout)
                for app, listener in self.listeners.items():
                    if listener.fileno() in readable and any(
                        fields.get("READY") == "1" for fields in listener.receive()
                    ):
                        self.waiting.discard(app)
                if exited in readable:
                    return False
                state = self._supervisor()
                if not self.waiting and state in ("started", "ready"):
                    if state == "started":
                        self._mark_ready()
                    if self.outer:
                        notify.send("READY=1", self.outer)
                    return True
        finally:
            os.close(exited)

    def close(self) -> None:
        for listener in self.listeners.values():
            listener.close()


def notify_apps(pod_dir: Path) -> list[str]:
    """The apps of the pod whose images support sd_notify."""
    from appc.schema.image import ImageManifest
    from appc.schema.pod import PodManifest
    from rkt.stage1.systemd_units import supports_notify

    try:
        manifest = PodManifest.from_json((pod_dir / layout.MANIFEST).read_bytes())
        found = []
        for app in manifest.apps:
            image = ImageManifest.from_json(
                (pod_dir / layout.app_image_manifest(app.name)).read_bytes()
            )
            if supports_notify(image):
                found.append(app.name)
        return found
    except (OSError, ValueError):
        return []  # stage1 reports what is wrong with the pod
