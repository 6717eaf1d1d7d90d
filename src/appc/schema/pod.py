"""The pod manifest (pods.md "Pod Manifest Schema").

The reference implementation checks little of a pod manifest beyond the types of its fields
(it accepts apps without an image ID, mounts without a volume, ports without a hostPort); this
reader follows the spec's "required" and uniqueness rules instead.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct, field
from msgspec.structs import replace

from appc.errors import ValidationError
from appc.schema import document, raw
from appc.schema.annotations import Annotation, annotations_to_json, parse_annotations
from appc.schema.app import App, ExposedPort, parse_exposed_port
from appc.schema.field import boolean, join, lst, obj, optional_list, required, string, string_map
from appc.schema.hash import image_id
from appc.schema.isolator import Isolator, parse_isolators, with_texts
from appc.schema.labels import Label, labels_to_json, parse_labels
from appc.schema.name import POD_MANIFEST_KIND, ac_identifier, ac_kind, ac_name
from appc.schema.semver import SemVer
from appc.schema.volume import Volume


class RuntimeImage(Struct, frozen=True):
    id: str
    name: str | None = None
    labels: tuple[Label, ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.name is not None:
            doc["name"] = self.name
        doc["id"] = self.id
        if self.labels:
            doc["labels"] = labels_to_json(self.labels)
        return doc


class Mount(Struct, frozen=True):
    volume: str
    path: str
    app_volume: Volume | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"volume": self.volume, "path": self.path}
        if self.app_volume is not None:
            doc["appVolume"] = self.app_volume.to_json()
        return doc


class RuntimeApp(Struct, frozen=True):
    name: str
    image: RuntimeImage
    app: App | None = None
    read_only_root_fs: bool = False
    mounts: tuple[Mount, ...] = ()
    annotations: tuple[Annotation, ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "image": self.image.to_json()}
        if self.app is not None:
            doc["app"] = self.app.to_json()
        if self.read_only_root_fs:
            doc["readOnlyRootFS"] = True
        if self.mounts:
            doc["mounts"] = [m.to_json() for m in self.mounts]
        if self.annotations:
            doc["annotations"] = annotations_to_json(self.annotations)
        return doc


class PodManifest(Struct, frozen=True):
    ac_version: SemVer
    apps: tuple[RuntimeApp, ...] = ()
    volumes: tuple[Volume, ...] = ()
    isolators: tuple[Isolator, ...] = ()
    annotations: tuple[Annotation, ...] = ()
    ports: tuple[ExposedPort, ...] = ()
    user_annotations: dict[str, str] = field(default_factory=dict)
    user_labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: bytes | str) -> PodManifest:
        pod = cls.from_value(document.decode(data, "pod manifest"))
        if pod.isolators or any(a.app and a.app.isolators for a in pod.apps):
            pod_texts, app_texts = raw.pod_isolator_texts(data)
            apps = tuple(
                replace(a, app=replace(a.app, isolators=with_texts(a.app.isolators, texts)))
                if a.app is not None
                else a
                for a, texts in zip(pod.apps, app_texts or [[]] * len(pod.apps), strict=True)
            )
            pod = replace(pod, isolators=with_texts(pod.isolators, pod_texts), apps=apps)
        return pod

    # pods.md restricts pod and app annotation names to AC Name, but rkt itself writes
    # AC Identifiers there ("coreos.com/rkt/stage1/mutable") and the reference accepts them;
    # names are read as AC Identifiers so that rkt's own pod manifests stay valid.

    @classmethod
    def from_value(cls, value: object) -> PodManifest:
        doc = obj(value, "")
        ac_kind(required(doc, "acKind", ""), "acKind", POD_MANIFEST_KIND)
        version = SemVer.parse(required(doc, "acVersion", ""), "acVersion")
        apps = tuple(
            _runtime_app(item, join("apps", i))
            for i, item in enumerate(lst(required(doc, "apps", ""), "apps"))
        )
        _unique((a.name for a in apps), "apps", "app name")
        volumes = tuple(
            Volume.from_json(item, join("volumes", i))
            for i, item in enumerate(optional_list(doc, "volumes", ""))
        )
        _unique((v.name for v in volumes), "volumes", "volume name")
        ports = tuple(
            parse_exposed_port(item, join("ports", i))
            for i, item in enumerate(optional_list(doc, "ports", ""))
        )
        # pods.md: "port names MUST be unique among apps within a pod".
        _unique((p.name for p in ports), "ports", "port name")
        return cls(
            ac_version=version,
            apps=apps,
            volumes=volumes,
            isolators=parse_isolators(doc.get("isolators"), "isolators"),
            annotations=parse_annotations(doc.get("annotations"), "annotations"),
            ports=ports,
            user_annotations=string_map(doc.get("userAnnotations"), "userAnnotations"),
            user_labels=string_map(doc.get("userLabels"), "userLabels"),
        )

    def to_value(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "acVersion": str(self.ac_version),
            "acKind": POD_MANIFEST_KIND,
            "apps": [a.to_json() for a in self.apps],
            "volumes": [v.to_json() for v in self.volumes],
            "isolators": [i.to_json() for i in self.isolators],
            "annotations": annotations_to_json(self.annotations),
            "ports": [p.to_json() for p in self.ports],
        }
        if self.user_annotations:
            doc["userAnnotations"] = dict(sorted(self.user_annotations.items()))
        if self.user_labels:
            doc["userLabels"] = dict(sorted(self.user_labels.items()))
        return doc

    def to_json(self, pretty: bool = False) -> bytes:
        return document.encode(self.to_value(), pretty=pretty)

    def app(self, name: str) -> RuntimeApp | None:
        for app in self.apps:
            if app.name == name:
                return app
        return None


def _unique(names: Any, path: str, what: str) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise ValidationError(
                f'duplicate {what} "{name}": names must be unique', join(path, index)
            )
        seen.add(name)


def _runtime_app(value: object, path: str) -> RuntimeApp:
    doc = obj(value, path)
    name = ac_name(required(doc, "name", path), join(path, "name"))
    image_path = join(path, "image")
    image_doc = obj(required(doc, "image", path), image_path)
    raw_name = image_doc.get("name")
    image = RuntimeImage(
        id=image_id(required(image_doc, "id", image_path), join(image_path, "id")),
        name=None if raw_name is None else ac_identifier(raw_name, join(image_path, "name")),
        labels=parse_labels(image_doc.get("labels"), join(image_path, "labels")),
    )
    app_value = doc.get("app")
    mounts = []
    for index, item in enumerate(optional_list(doc, "mounts", path)):
        where = join(join(path, "mounts"), index)
        mount_doc = obj(item, where)
        volume = ac_name(required(mount_doc, "volume", where), join(where, "volume"))
        mount_path = string(required(mount_doc, "path", where), join(where, "path"))
        if not mount_path:
            raise ValidationError("path must not be empty", join(where, "path"))
        app_volume = mount_doc.get("appVolume")
        mounts.append(
            Mount(
                volume,
                mount_path,
                None
                if app_volume is None
                else Volume.from_json(app_volume, join(where, "appVolume")),
            )
        )
    return RuntimeApp(
        name=name,
        image=image,
        app=None if app_value is None else App.from_json(app_value, join(path, "app")),
        read_only_root_fs=boolean(doc.get("readOnlyRootFS", False), join(path, "readOnlyRootFS")),
        mounts=tuple(mounts),
        annotations=parse_annotations(doc.get("annotations"), join(path, "annotations")),
    )
