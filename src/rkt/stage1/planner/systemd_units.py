"""What a pod's apps get from rkt's systemd integration, planned (pure): the notify socket of
apps whose image supports sd_notify, the sockets of socket activation, journal output.

rkt's stage1 ran each app as a systemd unit inside the pod: ``Type=notify`` for images with
the ``appc.io/executor/supports-systemd-notify`` annotation, socket units for ports with
``socketActivated``, and the apps' output in the journal. This executor plans the same for
each app; the executor performs it when it starts the app, and ``rkt run`` (the process
systemd started) relays readiness (rkt-stage1 monitor, native/monitor.c).
"""

from __future__ import annotations

from appc.schema.app import App
from appc.schema.image import ImageManifest
from rkt.pod import layout
from rkt.stage1.planner.plan import Mount, PodOptions

#: The image annotation of apps that speak sd_notify (rkt's stage1: Type=notify units).
NOTIFY_ANNOTATION = "appc.io/executor/supports-systemd-notify"
#: Under the pod dir: one notification socket per notify app, made by stage0 before stage1.
NOTIFY_DIR = layout.NOTIFY_DIR
#: Where a notify app finds its socket, inside its root (as systemd-nspawn's payloads do).
NOTIFY_TARGET = "run/systemd/notify"


def supports_notify(image: ImageManifest) -> bool:
    return any(a.name == NOTIFY_ANNOTATION and a.value == "true" for a in image.annotations)


def notify_socket(pod_dir: str, app: str) -> str:
    return f"{pod_dir.rstrip('/')}/{NOTIFY_DIR}/{app}"


def notify_mount(pod_dir: str, app: str) -> Mount:
    """The bind of the app's notification socket at ``/run/systemd/notify`` in its root."""
    return Mount("bind", notify_socket(pod_dir, app), NOTIFY_TARGET)


def notify_environment() -> tuple[tuple[str, str], ...]:
    return (("NOTIFY_SOCKET", "/" + NOTIFY_TARGET),)


def listen_fds(app: App, options: PodOptions) -> tuple[tuple[int, str], ...]:
    """The passed sockets that serve the app's ``socketActivated`` ports: the same protocol
    and port number (systemd matches sockets to socket units by address the same way)."""
    found = []
    for port in app.ports:
        if not port.socket_activated:
            continue
        for fd, name, protocol, number in options.listen_sockets:
            if protocol == port.protocol and number == port.port:
                found.append((fd, name if name != "unknown" else port.name))
    return tuple(dict.fromkeys(found))
