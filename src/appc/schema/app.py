"""The app object of an image manifest (aci.md) and its parts: exec, event handlers, mount
points and ports; also the exposed ports of a pod manifest (pods.md)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from msgspec import Struct, field

from appc.errors import ValidationError
from appc.schema import isolator as isolator_mod
from appc.schema.environment import EnvironmentVariable, environment_to_json, parse_environment
from appc.schema.field import (
    boolean,
    describe,
    integer,
    items,
    join,
    lst,
    obj,
    optional_list,
    required,
    string,
    string_map,
)
from appc.schema.isolator import Isolator
from appc.schema.name import ac_name

EVENT_NAMES = ("pre-start", "post-stop")


class EventHandler(Struct, frozen=True):
    name: str
    exec: tuple[str, ...] | None


class MountPoint(Struct, frozen=True):
    name: str
    path: str
    read_only: bool = False

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "path": self.path}
        if self.read_only:
            doc["readOnly"] = True
        return doc


class Port(Struct, frozen=True):
    name: str
    protocol: str
    port: int
    count: int = 1
    socket_activated: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValidationError(f"{self.port} is not valid: expected a port in 1-65535", "port")
        if self.count < 1 or self.port + self.count > 65536:
            raise ValidationError(
                f"count {self.count} is not valid: expected >= 1 with the range ending at or "
                "below 65535",
                "count",
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "protocol": self.protocol,
            "port": self.port,
            "count": self.count,
            "socketActivated": self.socket_activated,
        }


class ExposedPort(Struct, frozen=True):
    """A pod-level port forward: ``hostPort`` on the host to the app port ``name``."""

    name: str
    host_port: int
    host_ip: str = ""
    pod_port: Port | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "hostPort": self.host_port}
        if self.host_ip:
            doc["hostIP"] = self.host_ip
        if self.pod_port is not None:
            doc["podPort"] = self.pod_port.to_json()
        return doc


class App(Struct, frozen=True):
    exec: tuple[str, ...] | None
    user: str
    group: str
    event_handlers: tuple[EventHandler, ...] = ()
    supplementary_gids: tuple[int, ...] = ()
    working_directory: str = ""
    environment: tuple[EnvironmentVariable, ...] = ()
    mount_points: tuple[MountPoint, ...] = ()
    ports: tuple[Port, ...] = ()
    isolators: tuple[Isolator, ...] = ()
    user_annotations: dict[str, str] = field(default_factory=dict)
    user_labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: object, path: str = "app") -> App:
        doc = obj(value, path)
        exec_value = doc.get("exec")
        exec_args = None if exec_value is None else _exec(exec_value, join(path, "exec"))
        user = _non_empty(doc, "user", path)
        group = _non_empty(doc, "group", path)
        working_directory = string(
            doc.get("workingDirectory") or "", join(path, "workingDirectory")
        )
        if working_directory and not working_directory.startswith("/"):
            raise ValidationError(
                f"{describe(working_directory)} is not valid: expected an absolute path",
                join(path, "workingDirectory"),
            )
        where = join(path, "supplementaryGIDs")
        gids = tuple(
            integer(item, join(where, i), low=0, high=2**32 - 1)
            for i, item in enumerate(optional_list(doc, "supplementaryGIDs", path))
        )
        return cls(
            exec=exec_args,
            user=user,
            group=group,
            event_handlers=_event_handlers(doc.get("eventHandlers"), join(path, "eventHandlers")),
            supplementary_gids=gids,
            working_directory=working_directory,
            environment=parse_environment(doc.get("environment"), join(path, "environment")),
            mount_points=items(
                doc.get("mountPoints"), join(path, "mountPoints"), parse_mount_point
            ),
            ports=items(doc.get("ports"), join(path, "ports"), parse_port),
            isolators=isolator_mod.parse_isolators(doc.get("isolators"), join(path, "isolators")),
            user_annotations=string_map(doc.get("userAnnotations"), join(path, "userAnnotations")),
            user_labels=string_map(doc.get("userLabels"), join(path, "userLabels")),
        )

    def to_json(self) -> dict[str, Any]:
        """The reference's field order; empty optional members are left out as it does."""
        doc: dict[str, Any] = {"exec": list(self.exec) if self.exec is not None else None}
        if self.event_handlers:
            doc["eventHandlers"] = [
                {"name": e.name, "exec": list(e.exec) if e.exec is not None else None}
                for e in self.event_handlers
            ]
        doc["user"] = self.user
        doc["group"] = self.group
        if self.supplementary_gids:
            doc["supplementaryGIDs"] = list(self.supplementary_gids)
        if self.working_directory:
            doc["workingDirectory"] = self.working_directory
        if self.environment:
            doc["environment"] = environment_to_json(self.environment)
        if self.mount_points:
            doc["mountPoints"] = [m.to_json() for m in self.mount_points]
        if self.ports:
            doc["ports"] = [p.to_json() for p in self.ports]
        if self.isolators:
            doc["isolators"] = [i.to_json() for i in self.isolators]
        if self.user_annotations:
            doc["userAnnotations"] = dict(sorted(self.user_annotations.items()))
        if self.user_labels:
            doc["userLabels"] = dict(sorted(self.user_labels.items()))
        return doc


def _non_empty(doc: Any, key: str, path: str) -> str:
    text = string(required(doc, key, path), join(path, key))
    if not text:
        raise ValidationError(f"{key} must not be empty", join(path, key))
    return text


def _exec(value: object, path: str) -> tuple[str, ...]:
    return tuple(string(item, join(path, i)) for i, item in enumerate(lst(value, path)))


def _event_handlers(value: object, path: str) -> tuple[EventHandler, ...]:
    handlers: list[EventHandler] = []
    for index, item in enumerate(lst(value, path) if value is not None else []):
        where = join(path, index)
        doc = obj(item, where)
        name = string(required(doc, "name", where), join(where, "name"))
        if name not in EVENT_NAMES:
            raise ValidationError(
                f'{describe(name)} is not a valid event handler name: expected "pre-start" or '
                '"post-stop"',
                join(where, "name"),
            )
        if any(h.name == name for h in handlers):
            raise ValidationError(f'only one "{name}" event handler is allowed', where)
        exec_value = doc.get("exec")
        exec_args = None if exec_value is None else _exec(exec_value, join(where, "exec"))
        handlers.append(EventHandler(name, exec_args))
    return tuple(handlers)


def parse_mount_point(value: object, path: str) -> MountPoint:
    doc = obj(value, path)
    name = ac_name(required(doc, "name", path), join(path, "name"))
    mount_path = string(required(doc, "path", path), join(path, "path"))
    if not mount_path:
        raise ValidationError("path must not be empty", join(path, "path"))
    read_only = boolean(doc.get("readOnly", False), join(path, "readOnly"))
    return MountPoint(name, mount_path, read_only)


def parse_port(value: object, path: str) -> Port:
    doc = obj(value, path)
    name = ac_name(required(doc, "name", path), join(path, "name"))
    protocol = string(required(doc, "protocol", path), join(path, "protocol"))
    number = integer(required(doc, "port", path), join(path, "port"))
    count_value = doc.get("count")
    count = 1 if count_value is None else integer(count_value, join(path, "count"))
    socket = boolean(doc.get("socketActivated", False), join(path, "socketActivated"))
    try:
        return Port(name, protocol, number, count, socket)
    except ValidationError as err:
        raise err.at(path) from None


def parse_exposed_port(value: object, path: str) -> ExposedPort:
    doc = obj(value, path)
    name = ac_name(required(doc, "name", path), join(path, "name"))
    host_port = integer(required(doc, "hostPort", path), join(path, "hostPort"), low=0, high=65535)
    host_ip = string(doc.get("hostIP") or "", join(path, "hostIP"))
    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise ValidationError(
                f"{describe(host_ip)} is not valid: expected an IP address such as 203.0.113.23",
                join(path, "hostIP"),
            ) from None
    pod_port_value = doc.get("podPort")
    pod_port = None if pod_port_value is None else parse_port(pod_port_value, join(path, "podPort"))
    return ExposedPort(name, host_port, host_ip, pod_port)


_PORT_KEYS = {"protocol", "port", "count", "socketActivated"}


def port_from_string(text: str) -> Port:
    """``NAME,protocol=tcp,port=80[,count=1][,socketActivated=false]`` (actool --ports)."""
    name, *params = text.split(",")
    doc: dict[str, Any] = {"name": name}
    for param in params:
        key, sep, raw = param.partition("=")
        if not sep or key not in _PORT_KEYS or key in doc:
            raise ValidationError(
                f"{describe(param)} is not valid: expected protocol=, port=, count= or "
                "socketActivated=, once each",
                f"port {name}",
            )
        if key in ("port", "count"):
            if not re.fullmatch(r"[0-9]+", raw):
                raise ValidationError(
                    f"{describe(raw)} is not valid: expected an integer", f"port {name}: {key}"
                )
            doc[key] = int(raw)
        elif key == "socketActivated":
            doc[key] = raw in ("1", "t", "T", "true", "TRUE", "True")
        else:
            doc[key] = raw
    return parse_port(doc, f"port {name}")


def mount_point_from_string(text: str) -> MountPoint:
    """``NAME,path=/path[,readOnly=true]`` (actool --mounts)."""
    name, *params = text.split(",")
    doc: dict[str, Any] = {"name": name}
    for param in params:
        key, sep, raw = param.partition("=")
        if not sep or key not in ("path", "readOnly") or key in doc:
            raise ValidationError(
                f"{describe(param)} is not valid: expected path= and readOnly=, once each",
                f"mount point {name}",
            )
        doc[key] = raw if key == "path" else raw in ("1", "t", "T", "true", "TRUE", "True")
    return parse_mount_point(doc, f"mount point {name}")
