"""Inputs for the differential tests, as data.

Every case is run through our ``actool validate`` and the reference one (appc 0.8.11, Go); both
must reach the same verdict (valid = exit 0, invalid = exit non-zero). Where the reference
contradicts the text of the spec our tool follows the spec: those cases are listed in
:data:`DIVERGENCES` with the reference's actual behaviour and the sentence we follow, and the
tests check both sides so the table stays true (ARCHIVE_DIVERGENCES and LAYOUT_DIVERGENCES do
the same for image archives and layouts). A case whose ``xfail`` is set shows a bug in OUR
tool that is reported to the lead; its test is a strict xfail until the bug is fixed.

Manifests are built from a valid base with small edits (:func:`image`, :func:`app`,
:func:`pod`, :func:`isolator`), so each case differs from a valid document by one rule.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["valid", "invalid"]
RefVerdict = Literal["valid", "invalid", "crash"]

ACVERSION = "0.8.11"
# A full sha512 image ID (hex digest of the empty string).
SHA512 = (
    "sha512-cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)

#: Marks a member to delete in :func:`edit`.
DROP: Any = object()


def edit(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with ``changes`` applied; a value of :data:`DROP` deletes."""
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if value is DROP:
            result.pop(key, None)
        else:
            result[key] = value
    return result


BASE_APP: dict[str, Any] = {"exec": ["/bin/sh", "-c", "true"], "user": "0", "group": "0"}

BASE_IMAGE: dict[str, Any] = {
    "acKind": "ImageManifest",
    "acVersion": ACVERSION,
    "name": "example.com/app",
    "labels": [
        {"name": "version", "value": "1.0.0"},
        {"name": "os", "value": "linux"},
        {"name": "arch", "value": "amd64"},
    ],
    "app": BASE_APP,
}

BASE_POD_APP: dict[str, Any] = {
    "name": "web",
    "image": {"name": "example.com/web", "id": SHA512},
}

BASE_POD: dict[str, Any] = {
    "acKind": "PodManifest",
    "acVersion": ACVERSION,
    "apps": [BASE_POD_APP],
}


def image(**changes: Any) -> dict[str, Any]:
    """The base image manifest with top-level members changed (``DROP`` deletes)."""
    return edit(BASE_IMAGE, changes)


def app(**changes: Any) -> dict[str, Any]:
    """The base image manifest whose ``app`` has members changed."""
    return image(app=edit(BASE_APP, changes))


def isolator(name: str, value: Any = DROP) -> dict[str, Any]:
    item: dict[str, Any] = {"name": name}
    if value is not DROP:
        item["value"] = value
    return item


def isolators(*items: dict[str, Any]) -> dict[str, Any]:
    """The base image manifest whose app has these isolators."""
    return app(isolators=list(items))


def pod(**changes: Any) -> dict[str, Any]:
    """The base pod manifest with top-level members changed."""
    return edit(BASE_POD, changes)


def pod_app(**changes: Any) -> dict[str, Any]:
    """The base pod manifest whose only app has members changed."""
    return pod(apps=[edit(BASE_POD_APP, changes)])


def pod_image(**changes: Any) -> dict[str, Any]:
    """The base pod manifest whose app's ``image`` has members changed."""
    return pod_app(image=edit(BASE_POD_APP["image"], changes))


def volume(**fields: Any) -> dict[str, Any]:
    """The base pod manifest with one volume."""
    return pod(volumes=[{"name": "data", **fields}])


def env(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return app(environment=[{"name": n, "value": v} for n, v in pairs])


def port(**fields: Any) -> dict[str, Any]:
    """The base image manifest whose app has one port: ``http``/tcp/80 with ``fields`` changed."""
    return app(ports=[edit({"name": "http", "protocol": "tcp", "port": 80}, fields)])


def labels(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return image(labels=[{"name": n, "value": v} for n, v in pairs])


def annotations(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return image(annotations=[{"name": n, "value": v} for n, v in pairs])


@dataclass(frozen=True)
class Case:
    """One manifest: ``content`` is what the file holds, ``verdict`` is OUR expected verdict."""

    id: str
    content: bytes
    verdict: Verdict
    rule: str = ""
    #: Set while OUR tool has a known bug on this case (reported to the lead; strict xfail).
    xfail: str = ""


def case(id: str, document: Any, verdict: Verdict, rule: str = "", xfail: str = "") -> Case:
    if isinstance(document, bytes):
        content = document
    elif isinstance(document, str):
        content = document.encode()
    else:
        content = json.dumps(document, indent=2, ensure_ascii=False).encode()
    return Case(id, content, verdict, rule, xfail)


V: Verdict = "valid"
X: Verdict = "invalid"

# --------------------------------------------------------------------------------------------
# Image manifests: one valid base, then one rule broken at a time.

IMAGE_CASES: list[Case] = [
    case("image-minimal", {"acKind": "ImageManifest", "acVersion": ACVERSION, "name": "a"}, V),
    case("image-base", image(), V),
    case(
        "image-spec-example-like",
        image(
            app=edit(
                BASE_APP,
                {
                    "supplementaryGIDs": [400, 500],
                    "eventHandlers": [
                        {"name": "pre-start", "exec": ["/usr/bin/data-downloader"]},
                        {"name": "post-stop", "exec": ["/usr/bin/deregister-worker", "--verbose"]},
                    ],
                    "workingDirectory": "/opt/work",
                    "environment": [{"name": "REDUCE_WORKER_DEBUG", "value": "true"}],
                    "mountPoints": [{"name": "work", "path": "/var/lib/work", "readOnly": False}],
                    "ports": [
                        {
                            "name": "health",
                            "port": 4000,
                            "protocol": "tcp",
                            "socketActivated": True,
                        },
                        {"name": "ftp-data", "port": 20000, "count": 1000, "protocol": "tcp"},
                    ],
                    "userAnnotations": {"any key at all": "v"},
                    "userLabels": {"Tier": "web"},
                },
            ),
            dependencies=[
                {
                    "imageName": "example.com/reduce-worker-base",
                    "imageID": SHA512,
                    "labels": [
                        {"name": "os", "value": "linux"},
                        {"name": "env", "value": "canary"},
                    ],
                    "size": 22017258,
                }
            ],
            pathWhitelist=["/etc/ca/example.com/crt", "/etc/systemd/system/"],
            annotations=[
                {"name": "authors", "value": "Carly <carly@example.com> & Nat"},
                {"name": "created", "value": "2014-10-27T19:32:27.67021798Z"},
                {"name": "documentation", "value": "https://example.com/docs"},
                {"name": "homepage", "value": "http://example.com"},
            ],
        ),
        V,
    ),
    case("image-no-app", image(app=DROP), V),
    case(
        "image-unicode-values",
        image(
            annotations=[{"name": "description", "value": 'naïve café ☕ <b>&amp;</b> "quoted"'}],
            labels=[{"name": "version", "value": "1.0.0-β"}],
        ),
        V,
    ),
    # AC Kind
    case("kind-unknown", image(acKind="ContainerManifest"), X, "AC Kind"),
    case("kind-empty", image(acKind=""), X, "AC Kind cannot be empty"),
    case("kind-lowercase", image(acKind="imagemanifest"), X, "AC Kind"),
    # AC Version
    case("version-missing", image(acVersion=DROP), X, "acVersion required"),
    case("version-empty", image(acVersion=""), X, "AC Version cannot be empty"),
    case("version-bad", image(acVersion="0.8"), X, "SemVer"),
    case("version-words", image(acVersion="latest"), X, "SemVer"),
    case("version-zero", image(acVersion="0.0.0"), X, "SemVer cannot be zero"),
    case("version-prerelease", image(acVersion="0.8.11-rc.1"), V, "SemVer pre-release"),
    case("version-build", image(acVersion="0.8.11+git.abc"), V, "SemVer build metadata"),
    case("version-v-prefix", image(acVersion="v0.8.11"), X, "SemVer"),
    case("version-number", image(acVersion=1), X, "acVersion is a string"),
    # AC Identifier (image name)
    case("name-missing", image(name=DROP), X, "name required"),
    case("name-empty", image(name=""), X, "AC Identifier cannot be empty"),
    case("name-uppercase", image(name="Example.com/app"), X, "AC Identifier lowercase"),
    case("name-space", image(name="example.com/my app"), X, "AC Identifier chars"),
    case("name-underscore", image(name="example.com/my_app"), V, "RFC 3986 unreserved"),
    case("name-colon", image(name="example.com:443/app"), X, "AC Identifier chars"),
    case("name-leading-dash", image(name="-example.com/app"), X, "AC Identifier edges"),
    case("name-trailing-slash", image(name="example.com/app/"), X, "AC Identifier edges"),
    case("name-trailing-tilde", image(name="example.com/app~"), X, "AC Identifier edges"),
    case("name-all-separators", image(name="example.com/~user/app-v1.2"), V, "AC Identifier"),
    # types.md's regular expression forbids two separators in a row, its prose does not; both
    # tools follow the prose (see appc/schema/name.py).
    case("name-double-separator", image(name="example.com//app"), V, "AC Identifier prose"),
    case("name-unicode", image(name="exämple.com/app"), X, "AC Identifier chars"),
    case("name-not-string", image(name=["example.com/app"]), X, "name is a string"),
    # labels
    case("labels-duplicate", labels(("version", "1"), ("version", "2")), X, "label unique"),
    case("labels-name-name", labels(("name", "x")), X, 'label cannot be "name"'),
    case("labels-bad-name", labels(("Version", "1")), X, "label name AC Identifier"),
    case("labels-empty-name", labels(("", "1")), X, "label name AC Identifier"),
    case("labels-bad-os", labels(("os", "windows")), X, "os/arch whitelist"),
    case("labels-bad-arch-for-os", labels(("os", "darwin"), ("arch", "amd64")), X, "os/arch"),
    case("labels-arch-wrong-case", labels(("os", "linux"), ("arch", "AMD64")), X, "os/arch"),
    case("labels-linux-i386", labels(("os", "linux"), ("arch", "i386")), V, "os/arch"),
    case("labels-linux-aarch64", labels(("os", "linux"), ("arch", "aarch64")), V, "os/arch"),
    case("labels-freebsd-arm", labels(("os", "freebsd"), ("arch", "arm")), V, "os/arch"),
    case("labels-darwin-x86_64", labels(("os", "darwin"), ("arch", "x86_64")), V, "os/arch"),
    case("labels-arch-without-os", labels(("arch", "anything")), V, "arch needs os"),
    case("labels-os-only", labels(("os", "freebsd")), V, "os/arch"),
    case("labels-value-not-string", image(labels=[{"name": "version", "value": 1}]), X),
    case("labels-not-list", image(labels={"version": "1"}), X, "labels is a list"),
    # annotations
    case("annotations-duplicate", annotations(("authors", "a"), ("authors", "b")), X),
    case("annotations-bad-name", annotations(("Authors", "a")), X, "AC Identifier"),
    case("annotations-created-ok", annotations(("created", "2015-05-18T13:49:28-04:00")), V),
    case("annotations-created-bad", annotations(("created", "2015-05-18 13:49:28")), X),
    case("annotations-created-no-zone", annotations(("created", "2015-05-18T13:49:28")), X),
    case("annotations-homepage-ftp", annotations(("homepage", "ftp://example.com")), X),
    case("annotations-documentation-file", annotations(("documentation", "file:///d")), X),
    case("annotations-homepage-no-scheme", annotations(("homepage", "example.com")), X),
    case("annotations-homepage-https", annotations(("homepage", "https://example.com/x")), V),
    case("annotations-custom-url-free", annotations(("example.com/url", "ftp://x")), V),
    case("annotations-created-hour-24", annotations(("created", "2015-02-03T24:00:00Z")), X),
    case(
        "annotations-created-offset-no-colon",
        annotations(("created", "2015-02-03T10:00:00+0100")),
        X,
    ),
    case(
        "annotations-created-feb-30",
        annotations(("created", "2015-02-30T00:00:00Z")),
        X,
    ),
    case("annotations-homepage-upper-scheme", annotations(("homepage", "HTTP://example.com")), V),
    case("annotations-homepage-empty", annotations(("homepage", "")), X),
    case(
        "annotations-documentation-ipv6-host",
        annotations(("documentation", "https://[::1]:80/")),
        V,
    ),
    case(
        "annotations-homepage-space-in-host",
        annotations(("homepage", "http://exa mple.com/")),
        X,
    ),
    case(
        "annotations-documentation-bad-port",
        annotations(("documentation", "https://e.com:abc/")),
        X,
    ),
    case("annotations-value-not-string", annotations(("authors", 1)), X),
    # app: exec, user, group, workingDirectory, supplementaryGIDs
    case("app-no-exec", app(exec=DROP), V, "exec optional"),
    case("app-exec-not-list", app(exec="/bin/sh"), X, "exec is a list of strings"),
    case("app-exec-not-strings", app(exec=["/bin/sh", 1]), X, "exec is a list of strings"),
    case("app-user-missing", app(user=DROP), X, "user required"),
    case("app-user-empty", app(user=""), X, "user required"),
    case("app-group-missing", app(group=DROP), X, "group required"),
    case("app-group-empty", app(group=""), X, "group required"),
    case("app-user-path", app(user="/usr/bin/ping", group="/usr/bin/ping"), V, "user by file"),
    case("app-workdir-relative", app(workingDirectory="opt/work"), X, "absolute path"),
    case("app-workdir-absolute", app(workingDirectory="/opt/work"), V),
    case("app-gids-not-ints", app(supplementaryGIDs=["400"]), X, "list of unsigned integers"),
    # environment
    case("env-ok", env(("PATH", "/bin"), ("a.b-c_1", "")), V),
    case("env-bad-name-space", env(("MY VAR", "1")), X, "env name letters/digits/_ . -"),
    case("env-bad-name-equals", env(("A=B", "1")), X, "env name"),
    case("env-bad-name-digit-first", env(("1ABC", "1")), X, "env name (POSIX)"),
    case("env-empty-name", env(("", "1")), X, "env name"),
    case("env-duplicate", env(("A", "1"), ("A", "2")), X, "env unique"),
    # eventHandlers
    case("handlers-bad-name", app(eventHandlers=[{"name": "post-start", "exec": ["/x"]}]), X),
    case("handlers-empty-name", app(eventHandlers=[{"name": "", "exec": ["/x"]}]), X),
    case(
        "handlers-duplicate-pre-start",
        app(
            eventHandlers=[
                {"name": "pre-start", "exec": ["/a"]},
                {"name": "pre-start", "exec": ["/b"]},
            ]
        ),
        X,
        "only one eventHandler of a given name",
    ),
    # mountPoints
    case("mounts-bad-name", app(mountPoints=[{"name": "Work", "path": "/w"}]), X, "AC Name"),
    case("mounts-name-slash", app(mountPoints=[{"name": "a/b", "path": "/w"}]), X, "AC Name"),
    case("mounts-ok-readonly", app(mountPoints=[{"name": "w", "path": "/w", "readOnly": True}]), V),
    # ports
    case("ports-ok-range", port(port=65000, count=536), V, "port+count-1 = 65535"),
    case("ports-zero", port(port=0), X, "port >=1"),
    case("ports-65536", port(port=65536), X, "port <=65535"),
    case("ports-negative", port(port=-1), X, "port >=1"),
    case("ports-count-overflow", port(port=65000, count=537), X, "end of range <= 65535"),
    case("ports-bad-name", port(name="HTTP"), X, "AC Name"),
    case("ports-port-string", port(port="80"), X, "integer"),
    # dependencies
    case("deps-ok-name-only", image(dependencies=[{"imageName": "example.com/base"}]), V),
    case("deps-bad-name", image(dependencies=[{"imageName": "Example.com/base"}]), X),
    case("deps-empty-name", image(dependencies=[{"imageName": ""}]), X),
    case("deps-missing-name", image(dependencies=[{"imageID": SHA512}]), X, "imageName required"),
    case(
        "deps-bad-id-algorithm",
        image(dependencies=[{"imageName": "example.com/base", "imageID": "sha256-" + "ab" * 32}]),
        X,
    ),
    case(
        "deps-id-empty-value",
        image(dependencies=[{"imageName": "example.com/base", "imageID": "sha512-"}]),
        X,
    ),
    case(
        "deps-id-no-dash",
        image(dependencies=[{"imageName": "example.com/base", "imageID": "sha512"}]),
        X,
    ),
    case(
        "deps-id-empty", image(dependencies=[{"imageName": "example.com/base", "imageID": ""}]), X
    ),
    case(
        "deps-bad-labels",
        image(
            dependencies=[
                {"imageName": "example.com/base", "labels": [{"name": "os", "value": "plan9"}]}
            ]
        ),
        X,
    ),
    case(
        "deps-negative-size", image(dependencies=[{"imageName": "example.com/base", "size": -1}]), X
    ),
    case(
        "deps-float-size", image(dependencies=[{"imageName": "example.com/base", "size": 1.5}]), X
    ),
    case(
        "deps-id-upper-algorithm",
        image(dependencies=[{"imageName": "example.com/base", "imageID": "SHA512-abc"}]),
        X,
    ),
    case(
        "deps-id-two-dashes",
        image(dependencies=[{"imageName": "example.com/base", "imageID": "sha512-ab-cd"}]),
        X,
    ),
    case(
        "deps-id-upper-hex",
        image(dependencies=[{"imageName": "example.com/base", "imageID": "sha512-ABCDEF"}]),
        V,
    ),
    case("app-gids-float", app(supplementaryGIDs=[1.0]), X, "list of unsigned integers"),
    case("app-exec-relative", app(exec=["sh", "-c", "true"]), V, "sought in PATH"),
    case("ports-port-float", port(port=80.5), X, "integer"),
    case("ports-socket-activated-string", port(socketActivated="true"), X, "boolean"),
    case(
        "mounts-read-only-string",
        app(mountPoints=[{"name": "a", "path": "/a", "readOnly": "1"}]),
        X,
    ),
    # pathWhitelist
    case("whitelist-empty", image(pathWhitelist=[]), V, "empty list = absent"),
    case("whitelist-not-strings", image(pathWhitelist=[1]), X),
    # user annotations / labels
    case("user-annotations-non-string", app(userAnnotations={"a": 1}), X, "values strings"),
    case("user-labels-non-string", app(userLabels={"a": True}), X, "values strings"),
    # JSON itself
    case("json-syntax-error", b'{"acKind": "ImageManifest", "acVersion": "0.8.11",', X),
    case("json-array", b'[{"acKind": "ImageManifest"}]', X),
    case("json-unknown-member-ignored", image(comment="not in the schema"), V),
    case(
        "json-trailing-garbage", b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a"} x', X
    ),
    case(
        "json-duplicate-key-last-wins",
        b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"b","name":"a"}',
        V,
    ),
    # RFC 4627's grammar takes any "\u" and four hex digits, a lone surrogate included.
    case(
        "json-lone-surrogate-escape",
        b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a",'
        b'"annotations":[{"name":"x","value":"\\ud800"}]}',
        V,
    ),
    case("handlers-no-exec", app(eventHandlers=[{"name": "pre-start"}]), V, "exec not required"),
]

# --------------------------------------------------------------------------------------------
# Isolators (ace.md "Isolators"), all in an image manifest's app.

_NET_SET = ["CAP_NET_BIND_SERVICE"]
_SELINUX = {"user": "u", "role": "r", "type": "t", "level": "s0"}
ISOLATOR_CASES: list[Case] = [
    case(
        "iso-cpu-ok", isolators(isolator("resource/cpu", {"request": "250m", "limit": "500m"})), V
    ),
    case(
        "iso-cpu-default-true",
        isolators(isolator("resource/cpu", {"default": True, "limit": "1"})),
        X,
        "cpu has no default",
    ),
    case(
        "iso-memory-ok",
        isolators(isolator("resource/memory", {"request": "1G", "limit": "2Gi"})),
        V,
    ),
    case(
        "iso-memory-bad-quantity",
        isolators(isolator("resource/memory", {"limit": "1X"})),
        X,
        "quantity suffix",
    ),
    case(
        "iso-memory-quantity-number",
        isolators(isolator("resource/memory", {"limit": 1024})),
        V,
        "a bare number is a quantity",
    ),
    case(
        "iso-block-bandwidth-ok",
        isolators(isolator("resource/block-bandwidth", {"default": True, "limit": "2M"})),
        V,
    ),
    case(
        "iso-block-bandwidth-default-false",
        isolators(isolator("resource/block-bandwidth", {"default": False, "limit": "2M"})),
        X,
    ),
    case(
        "iso-block-bandwidth-request",
        isolators(
            isolator("resource/block-bandwidth", {"default": True, "request": "1M", "limit": "2M"})
        ),
        X,
        "no request",
    ),
    case(
        "iso-block-iops-ok",
        isolators(isolator("resource/block-iops", {"default": True, "limit": "1000"})),
        V,
    ),
    case(
        "iso-block-iops-no-default",
        isolators(isolator("resource/block-iops", {"limit": "1000"})),
        X,
        "default must be true",
    ),
    case(
        "iso-network-bandwidth-ok",
        isolators(isolator("resource/network-bandwidth", {"default": True, "limit": "1G"})),
        V,
    ),
    case(
        "iso-network-bandwidth-default-false",
        isolators(isolator("resource/network-bandwidth", {"default": False, "limit": "1G"})),
        X,
    ),
    case(
        "iso-caps-retain-ok",
        isolators(isolator("os/linux/capabilities-retain-set", {"set": _NET_SET})),
        V,
    ),
    case(
        "iso-caps-retain-empty",
        isolators(isolator("os/linux/capabilities-retain-set", {"set": []})),
        X,
        "non-empty set",
    ),
    case(
        "iso-caps-remove-empty",
        isolators(isolator("os/linux/capabilities-remove-set", {"set": []})),
        X,
        "non-empty set",
    ),
    case(
        "iso-caps-remove-missing-set",
        isolators(isolator("os/linux/capabilities-remove-set", {})),
        X,
        "non-empty set",
    ),
    case("iso-no-new-privs-ok", isolators(isolator("os/linux/no-new-privileges", True)), V),
    case(
        "iso-no-new-privs-string",
        isolators(isolator("os/linux/no-new-privileges", "true")),
        X,
        "boolean",
    ),
    case(
        "iso-seccomp-retain-ok",
        isolators(isolator("os/linux/seccomp-retain-set", {"set": ["@appc.io/all"], "errno": ""})),
        V,
    ),
    case(
        "iso-seccomp-remove-ok",
        isolators(isolator("os/linux/seccomp-remove-set", {"set": ["reboot"], "errno": "ENOTSUP"})),
        V,
    ),
    case(
        "iso-seccomp-retain-empty",
        isolators(isolator("os/linux/seccomp-retain-set", {"set": []})),
        X,
        "MUST NOT be empty",
    ),
    case(
        "iso-seccomp-remove-empty",
        isolators(isolator("os/linux/seccomp-remove-set", {"set": []})),
        X,
        "MUST NOT be empty",
    ),
    case(
        "iso-seccomp-errno-lowercase",
        isolators(isolator("os/linux/seccomp-remove-set", {"set": ["reboot"], "errno": "eperm"})),
        X,
        "uppercase",
    ),
    case(
        "iso-seccomp-duplicate",
        isolators(
            isolator("os/linux/seccomp-remove-set", {"set": ["reboot"]}),
            isolator("os/linux/seccomp-remove-set", {"set": ["kexec_load"]}),
        ),
        X,
        "single per app",
    ),
    case(
        "iso-seccomp-retain-and-remove",
        isolators(
            isolator("os/linux/seccomp-retain-set", {"set": ["read"]}),
            isolator("os/linux/seccomp-remove-set", {"set": ["reboot"]}),
        ),
        X,
        "not in conjunction",
    ),
    case(
        "iso-selinux-ok",
        isolators(
            isolator(
                "os/linux/selinux-context",
                {"user": "system_u", "role": "system_r", "type": "dhcpc_t", "level": "s0:c1,c2"},
            )
        ),
        V,
    ),
    case(
        "iso-selinux-missing-level",
        isolators(
            isolator(
                "os/linux/selinux-context",
                {"user": "system_u", "role": "system_r", "type": "dhcpc_t"},
            )
        ),
        X,
    ),
    case(
        "iso-selinux-user-colon",
        isolators(
            isolator(
                "os/linux/selinux-context",
                {"user": "system_u:x", "role": "system_r", "type": "dhcpc_t", "level": "s0"},
            )
        ),
        X,
    ),
    case("iso-oom-score-adj-ok", isolators(isolator("os/linux/oom-score-adj", -1000)), V),
    case("iso-oom-score-adj-1001", isolators(isolator("os/linux/oom-score-adj", 1001)), X),
    case("iso-cpu-shares-ok", isolators(isolator("os/linux/cpu-shares", 2)), V),
    case("iso-cpu-shares-1", isolators(isolator("os/linux/cpu-shares", 1)), X),
    case("iso-cpu-shares-262145", isolators(isolator("os/linux/cpu-shares", 262145)), X),
    case("iso-sysctl-ok", isolators(isolator("os/unix/sysctl", {"net.ipv4.ip_forward": "1"})), V),
    case(
        "iso-sysctl-non-string",
        isolators(isolator("os/unix/sysctl", {"net.ipv4.tcp_keepalive_time": 300})),
        X,
        "strings",
    ),
    case(
        "iso-seccomp-errno-digits",
        isolators(isolator("os/linux/seccomp-remove-set", {"set": ["reboot"], "errno": "E2BIG"})),
        V,
    ),
    case("iso-unknown-no-value", isolators(isolator("example.com/custom")), X, "value required"),
    case(
        "iso-app-selinux-twice",
        isolators(
            isolator("os/linux/selinux-context", _SELINUX),
            isolator("os/linux/selinux-context", _SELINUX),
        ),
        X,
        "single per app",
    ),
    case("iso-bad-name", isolators(isolator("Resource/CPU", {"limit": "1"})), X, "AC Identifier"),
    case(
        "iso-memory-quantities-ok",
        isolators(
            *(
                isolator("resource/memory", {"limit": q})
                for q in ("0.3", "300m", "1e3", "1.5G", "1Ei", "1n", "+1", "12345678901234567890")
            )
        ),
        V,
    ),
    case(
        "iso-memory-quantity-1K",
        isolators(isolator("resource/memory", {"limit": "1K"})),
        X,
        "both take Kubernetes' k, not ace.md's K",
    ),
    case("iso-memory-quantity-1g", isolators(isolator("resource/memory", {"limit": "1g"})), X),
    case("iso-memory-quantity-hex", isolators(isolator("resource/memory", {"limit": "0x10"})), X),
    case(
        "iso-memory-quantity-exa",
        isolators(isolator("resource/memory", {"limit": "1E"})),
        V,
    ),
    case(
        "iso-caps-set-not-list",
        isolators(isolator("os/linux/capabilities-retain-set", {"set": "CAP_CHOWN"})),
        X,
    ),
    case(
        "iso-oom-score-adj-twice",
        isolators(isolator("os/linux/oom-score-adj", 1), isolator("os/linux/oom-score-adj", 2)),
        X,
    ),
    case(
        "iso-cpu-shares-twice",
        isolators(isolator("os/linux/cpu-shares", 2), isolator("os/linux/cpu-shares", 3)),
        X,
    ),
    case("iso-oom-score-adj-float", isolators(isolator("os/linux/oom-score-adj", 1.5)), X),
    case(
        "iso-sysctl-twice-in-app",
        isolators(isolator("os/unix/sysctl", {"a": "1"}), isolator("os/unix/sysctl", {"b": "1"})),
        X,
    ),
    case(
        "iso-seccomp-set-not-strings",
        isolators(isolator("os/linux/seccomp-retain-set", {"set": [1]})),
        X,
    ),
    case(
        "iso-selinux-role-colon",
        isolators(
            isolator(
                "os/linux/selinux-context", {"user": "u", "role": "r:x", "type": "t", "level": "s0"}
            )
        ),
        X,
    ),
    case(
        "iso-selinux-empty-type",
        isolators(
            isolator(
                "os/linux/selinux-context", {"user": "u", "role": "r", "type": "", "level": "s0"}
            )
        ),
        X,
    ),
    case("iso-empty-name", isolators(isolator("", {})), X, "AC Identifier"),
    case("iso-missing-name", app(isolators=[{"value": {}}]), X, "name required"),
]

# --------------------------------------------------------------------------------------------
# Pod manifests (pods.md).

POD_CASES: list[Case] = [
    case("pod-base", pod(), V),
    case(
        "pod-spec-example-like",
        pod(
            apps=[
                edit(
                    BASE_POD_APP,
                    {
                        "app": edit(
                            BASE_APP, {"mountPoints": [{"name": "work", "path": "/var/lib/work"}]}
                        ),
                        "readOnlyRootFS": True,
                        "mounts": [{"volume": "worklib", "path": "/var/lib/work"}],
                        "annotations": [{"name": "foo", "value": "baz"}],
                    },
                ),
                {
                    "name": "backup",
                    "image": {"id": SHA512, "labels": [{"name": "version", "value": "1.0.0"}]},
                },
            ],
            volumes=[
                {
                    "name": "worklib",
                    "kind": "host",
                    "source": "/opt/tenant1/work",
                    "readOnly": True,
                    "recursive": True,
                },
                {"name": "scratch", "kind": "empty", "mode": "0700", "uid": 1000, "gid": 1000},
            ],
            isolators=[{"name": "resource/memory", "value": {"limit": "4G"}}],
            annotations=[{"name": "ip-address", "value": "10.1.2.3"}],
            ports=[{"name": "ftp", "hostPort": 2121, "hostIP": "203.0.113.23"}],
            userAnnotations={"k": "v"},
            userLabels={"k": "v"},
        ),
        V,
    ),
    case("pod-kind-image", pod(acKind="ImageManifest"), X, "acKind"),
    case("pod-version-bad", pod(acVersion="1.0"), X, "SemVer"),
    case("pod-apps-duplicate-names", pod(apps=[BASE_POD_APP, BASE_POD_APP]), X, "MUST be unique"),
    case("pod-app-bad-name", pod_app(name="Web"), X, "AC Name"),
    case("pod-app-name-dot", pod_app(name="web.1"), X, "AC Name"),
    case("pod-image-bad-id", pod_image(id="sha256-abc"), X, "Image ID"),
    case("pod-image-bad-name", pod_image(name="Example.com/web"), X, "AC Identifier"),
    case("pod-image-bad-labels", pod_image(labels=[{"name": "os", "value": "beos"}]), X),
    case("pod-app-override-invalid", pod_app(app=edit(BASE_APP, {"user": ""})), X),
    case(
        "pod-app-isolator-invalid",
        pod_app(app=edit(BASE_APP, {"isolators": [isolator("os/linux/cpu-shares", 1)]})),
        X,
    ),
    case("pod-isolator-invalid", pod(isolators=[isolator("resource/memory", {"limit": "1X"})]), X),
    case(
        "pod-annotations-duplicate",
        pod(annotations=[{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]),
        X,
    ),
    # volumes
    case("vol-host-ok", volume(kind="host", source="/srv/data"), V),
    case("vol-empty-ok-defaults", volume(kind="empty"), V, "mode/uid/gid default"),
    case("vol-host-no-source", volume(kind="host"), X, "source required if host"),
    case("vol-host-relative-source", volume(kind="host", source="srv/data"), X, "absolute path"),
    case("vol-host-with-mode", volume(kind="host", source="/srv", mode="0755"), X),
    case("vol-host-with-uid", volume(kind="host", source="/srv", uid=0), X),
    case("vol-empty-with-source", volume(kind="empty", source="/srv"), X),
    case("vol-unknown-kind", volume(kind="tmpfs"), X, "either empty or host"),
    case("vol-no-kind", volume(), X, "kind required"),
    case("vol-bad-name", pod(volumes=[{"name": "Data", "kind": "empty"}]), X, "AC Name"),
    case(
        "vol-duplicate-names",
        pod(
            volumes=[
                {"name": "data", "kind": "empty"},
                {"name": "data", "kind": "host", "source": "/x"},
            ]
        ),
        X,
    ),
    # ports
    case("pod-port-bad-name", pod(ports=[{"name": "FTP", "hostPort": 21}]), X, "AC Name"),
    case(
        "pod-port-host-ip-not-ip",
        pod(ports=[{"name": "ftp", "hostPort": 21, "hostIP": "localhost"}]),
        X,
        "hostIP",
    ),
    # pods.md asks for "an IPv4 address ... in dotted-quad notation"; both tools take any IP.
    case("pod-port-host-ip-v6", pod(ports=[{"name": "ftp", "hostPort": 21, "hostIP": "::1"}]), V),
    # pods.md restricts pod annotation names to AC Name, yet rkt itself writes names such as
    # "coreos.com/rkt/stage1/mutable"; both tools take an AC Identifier.
    case(
        "pod-annotation-identifier", pod(annotations=[{"name": "example.com/ip", "value": "1"}]), V
    ),
    case("pod-unknown-isolator", pod(isolators=[isolator("example.com/custom", {"a": 1})]), V),
    case(
        "pod-port-pod-port-invalid",
        pod(
            ports=[
                {
                    "name": "ftp",
                    "hostPort": 21,
                    "podPort": {"name": "ftp", "protocol": "tcp", "port": 0},
                }
            ]
        ),
        X,
        "port >= 1",
    ),
    case("pod-apps-empty-list", pod(apps=[]), V),
    case("pod-app-read-only-rootfs-string", pod_app(readOnlyRootFS="true"), X, "boolean"),
    case(
        "pod-app-annotations-duplicate",
        pod_app(annotations=[{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]),
        X,
    ),
    case("pod-mount-bad-volume-name", pod_app(mounts=[{"volume": "Bad", "path": "/w"}]), X),
    case(
        "pod-mount-app-volume",
        pod_app(
            mounts=[
                {
                    "volume": "v",
                    "path": "/w",
                    "appVolume": {"name": "v", "kind": "host", "source": "/x"},
                }
            ]
        ),
        V,
    ),
    case(
        "pod-mount-app-volume-invalid",
        pod_app(mounts=[{"volume": "v", "path": "/w", "appVolume": {"name": "v", "kind": "host"}}]),
        X,
        "source required if host",
    ),
    case("vol-mode-not-string", volume(kind="empty", mode=493), X),
    case("vol-read-only-string", volume(kind="empty", readOnly="yes"), X),
]


# --------------------------------------------------------------------------------------------
# Where the reference contradicts the spec. Each entry: the case (with OUR verdict), what the
# reference does, and the sentence of the spec our verdict follows. ``quote`` is checked
# against the spec text (Markdown links, emphasis and code marks removed).


@dataclass(frozen=True)
class Divergence:
    case: Case | ImageCase
    reference: RefVerdict
    spec: str  # file under /usr/share/doc/appc-spec/
    quote: str


def div(
    id: str,
    document: Any,
    ours: Verdict,
    reference: RefVerdict,
    spec: str,
    quote: str,
    xfail: str = "",
) -> Divergence:
    return Divergence(case(id, document, ours, xfail=xfail), reference, spec, quote)


# Bytes that are not UTF-8 inside a JSON string; Go's decoder replaces them with U+FFFD.
BAD_UTF8_MANIFEST = (
    b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a",'
    b'"annotations":[{"name":"x","value":"\xff\xfe"}]}'
)
_Q_RFC4627 = (
    "JSON Schema for the Image Manifest (app image manifest, ACI manifest), conforming to RFC4627"
)
_Q_ISOLATOR = 'An Isolator Type must be a JSON object with two required fields: "name" and "value".'
_Q_APPS = "apps (list of objects, required) list of apps that will execute inside of this pod."
_Q_LABELS = (
    "The listed objects must have two key-value pairs: name is restricted to the AC Identifier "
    "formatting and value is an arbitrary string."
)
_Q_ANNOTATIONS = (
    "Each object has two key-value pairs: the name is restricted to the AC Identifier formatting"
    " and value is an arbitrary string."
)
_Q_IMAGE_ID = (
    'An Image ID Type must be a string of the format "hash-value", where "hash" is the hash '
    'algorithm used and "value" is the hex encoded string of the digest.'
)
_Q_SEMVER = "An AC Version cannot be an empty string and must be in SemVer v2.0.0 format."
_Q_MOUNTPOINT = (
    "The listed objects contain the following key-value pairs: the name indicates a label to "
    "refer to a mount point (which may be used by the executor when resolving a mount to a "
    "volume in the PodManifest), and the path stipulates where it is to be mounted inside the "
    "rootfs."
)

DIVERGENCES: list[Divergence] = [
    # The reference panics ("panic: bad ACKind", nil pointer dereference) and exits 2.
    div(
        "crash-image-kind-missing",
        image(acKind=DROP),
        X,
        "crash",
        "aci.md",
        'acKind (string, required) must be an AC Kind of value "ImageManifest"',
    ),
    div(
        "crash-pod-kind-missing",
        pod(acKind=DROP),
        X,
        "crash",
        "pods.md",
        'acKind (string, required) must be an AC Kind of value "PodManifest"',
    ),
    div(
        "crash-isolator-no-value",
        isolators(isolator("resource/cpu")),
        X,
        "crash",
        "types.md",
        _Q_ISOLATOR,
    ),
    div(
        "crash-isolator-null-value",
        isolators(isolator("os/linux/cpu-shares", None)),
        X,
        "crash",
        "types.md",
        _Q_ISOLATOR,
    ),
    div(
        "crash-pod-isolator-no-value",
        pod(isolators=[isolator("resource/memory")]),
        X,
        "crash",
        "types.md",
        _Q_ISOLATOR,
    ),
    # The reference accepts.
    div(
        "pod-unknown-isolator-no-value",
        pod(isolators=[isolator("example.com/custom")]),
        X,
        "valid",
        "types.md",
        _Q_ISOLATOR,
    ),
    div("pod-no-apps", pod(apps=DROP), X, "valid", "pods.md", _Q_APPS),
    div("image-kind-pod", image(acKind="PodManifest"), X, "valid", "pods.md", _Q_APPS),
    div(
        "pod-app-no-name",
        pod(apps=[{"image": {"id": SHA512}}]),
        X,
        "valid",
        "pods.md",
        "name (string, required) name of the app (restricted to AC Name formatting).",
    ),
    div(
        "pod-app-no-image-id",
        pod_image(id=DROP),
        X,
        "valid",
        "pods.md",
        "id (string of type Image ID, required) content hash of the image that this app will "
        "execute inside of",
    ),
    div(
        "pod-mount-no-volume",
        pod_app(mounts=[{"path": "/w"}]),
        X,
        "valid",
        "pods.md",
        "volume (string, required) name of the volume that will fulfill this mount",
    ),
    div(
        "pod-mount-no-path",
        pod_app(mounts=[{"volume": "data"}]),
        X,
        "valid",
        "pods.md",
        "path (string, required) path inside the app filesystem to mount the volume",
    ),
    div(
        "pod-port-no-host-port",
        pod(ports=[{"name": "ftp"}]),
        X,
        "valid",
        "pods.md",
        "hostPort (integer, required) port number on the host that will be mapped to the "
        "application port.",
    ),
    div(
        "pod-port-host-port-70000",
        pod(ports=[{"name": "ftp", "hostPort": 70000}]),
        X,
        "valid",
        "pods.md",
        "hostPort (integer, required) port number on the host",
    ),
    div(
        "pod-sysctl-twice",
        pod(
            isolators=[
                isolator("os/unix/sysctl", {"a": "1"}),
                isolator("os/unix/sysctl", {"b": "1"}),
            ]
        ),
        X,
        "valid",
        "ace.md",
        "Only a single os/unix/sysctl isolator can be specified per-pod.",
    ),
    div(
        "pod-selinux-twice",
        pod(
            isolators=[
                isolator("os/linux/selinux-context", _SELINUX),
                isolator("os/linux/selinux-context", _SELINUX),
            ]
        ),
        X,
        "valid",
        "ace.md",
        "Only a single os/linux/selinux-context isolator can be specified per-pod.",
    ),
    div(
        "app-unknown-isolator-kept",
        isolators(isolator("example.com/custom", {"anything": [1, 2, {"x": None}]})),
        V,
        "invalid",
        "ace.md",
        "An executor MAY ignore isolators that it does not understand and run the pod "
        "without them.",
    ),
    div(
        "caps-retain-and-remove",
        isolators(
            isolator("os/linux/capabilities-retain-set", {"set": _NET_SET}),
            isolator("os/linux/capabilities-remove-set", {"set": ["CAP_MKNOD"]}),
        ),
        X,
        "valid",
        "ace.md",
        "The retain set cannot be used in conjunction with the remove set.",
    ),
    div("label-no-value", image(labels=[{"name": "version"}]), X, "valid", "aci.md", _Q_LABELS),
    div("label-no-name", image(labels=[{"value": "1"}]), X, "valid", "aci.md", _Q_LABELS),
    div(
        "annotation-no-value",
        image(annotations=[{"name": "authors"}]),
        X,
        "valid",
        "aci.md",
        _Q_ANNOTATIONS,
    ),
    div(
        "annotation-no-name",
        image(annotations=[{"value": "x"}]),
        X,
        "valid",
        "aci.md",
        _Q_ANNOTATIONS,
    ),
    div(
        "env-no-value",
        app(environment=[{"name": "A"}]),
        X,
        "valid",
        "aci.md",
        "The listed objects must have two key-value pairs: name and value.",
    ),
    div(
        "port-no-protocol",
        app(ports=[{"name": "http", "port": 80}]),
        X,
        "valid",
        "aci.md",
        "protocol (string, required) protocol that will be used on this port.",
    ),
    div(
        "port-no-name",
        app(ports=[{"protocol": "tcp", "port": 80}]),
        X,
        "valid",
        "aci.md",
        "name (string, required, restricted to the AC Name formatting) descriptive name for "
        "this port",
    ),
    div(
        "port-count-zero",
        port(count=0),
        X,
        "valid",
        "aci.md",
        "count (integer, optional, defaults to 1 if unset) specifies a range of ports, starting "
        'with "port" and ending with "port" + "count" - 1. Must be >=1.',
    ),
    div(
        "mountpoint-no-name", app(mountPoints=[{"path": "/w"}]), X, "valid", "aci.md", _Q_MOUNTPOINT
    ),
    div(
        "mountpoint-no-path", app(mountPoints=[{"name": "w"}]), X, "valid", "aci.md", _Q_MOUNTPOINT
    ),
    div("version-leading-zero", image(acVersion="01.2.3"), X, "valid", "types.md", _Q_SEMVER),
    div(
        "version-prerelease-leading-zero",
        image(acVersion="0.8.11-rc.01"),
        X,
        "valid",
        "types.md",
        _Q_SEMVER,
    ),
    div(
        "image-id-not-hex",
        image(dependencies=[{"imageName": "example.com/base", "imageID": "sha512-xyz"}]),
        X,
        "valid",
        "types.md",
        _Q_IMAGE_ID,
    ),
    div("pod-image-id-not-hex", pod_image(id="sha512-xyz"), X, "valid", "types.md", _Q_IMAGE_ID),
    div("pod-image-id-too-long", pod_image(id=SHA512 + "00"), X, "valid", "types.md", _Q_IMAGE_ID),
    div(
        "whitelist-relative",
        image(pathWhitelist=["etc/passwd"]),
        X,
        "valid",
        "aci.md",
        "pathWhitelist (list of strings, optional) whitelist of absolute paths that will exist "
        "in the app's rootfs after rendering.",
    ),
    div(
        "gids-negative",
        app(supplementaryGIDs=[-1]),
        X,
        "valid",
        "aci.md",
        "supplementaryGIDs (list of unsigned integers, optional)",
    ),
    # RFC 4627: "JSON text SHALL be encoded in Unicode."
    div("json-not-utf8", BAD_UTF8_MANIFEST, X, "valid", "aci.md", _Q_RFC4627),
    div(
        "whitelist-empty-string",
        image(pathWhitelist=[""]),
        X,
        "valid",
        "aci.md",
        "whitelist of absolute paths that will exist in the app's rootfs after rendering.",
    ),
    div(
        "quantity-without-number",
        isolators(isolator("resource/memory", {"limit": "k"})),
        X,
        "valid",
        "ace.md",
        "Limit and request quantities must always be represented internally "
        "(i.e. for encoding and any processing) as an integer value",
    ),
    div(
        "vol-mode-not-octal",
        volume(kind="empty", mode="abc"),
        X,
        "valid",
        "pods.md",
        'mode (string, optional, only interpreted if kind is "empty", defaults to "0755" if '
        "unsupplied) indicates the mode permission of the empty volume.",
    ),
    div(
        "vol-uid-negative",
        volume(kind="empty", uid=-1),
        X,
        "valid",
        "pods.md",
        "indicates the user id that will own the empty volume.",
    ),
    div(
        "pod-ports-duplicate-names",
        pod(ports=[{"name": "a", "hostPort": 1}, {"name": "a", "hostPort": 2}]),
        X,
        "valid",
        "pods.md",
        "Consequently, port names MUST be unique among apps within a pod.",
    ),
    # RFC 3339 section 5.6 allows a lower-case "t" and "z"; types.md's next sentence
    # ("Specifically including the "T"") could be read against it: a question for the lead.
    div(
        "created-lower-case-t",
        annotations(("created", "2015-05-18t13:49:28z")),
        V,
        "invalid",
        "types.md",
        "Timestamps will be formatted to RFC3339.",
    ),
    # Go's decoder matches member names case-insensitively; JSON's are case-sensitive.
    div(
        "json-member-names-case-folded",
        {"ACKIND": "ImageManifest", "acversion": ACVERSION, "Name": "example.com/app"},
        X,
        "valid",
        "aci.md",
        "acVersion (string, required) represents the version of the schema specification",
    ),
]

# --------------------------------------------------------------------------------------------
# Image archives and image layouts (aci.md "Image Layout", "Image Archives").

EntryType = Literal["file", "dir", "symlink", "hardlink"]


@dataclass(frozen=True)
class Entry:
    name: str
    type: EntryType = "file"
    data: bytes = b""
    linkname: str = ""


def manifest_entry(document: Any = None, name: str = "manifest") -> Entry:
    if isinstance(document, bytes):
        return Entry(name, data=document)
    return Entry(name, data=json.dumps(image() if document is None else document).encode())


MANIFEST = manifest_entry()
ROOTFS = Entry("rootfs", "dir")
ROOTFS_FILES = (
    Entry("rootfs/bin", "dir"),
    Entry("rootfs/bin/hello", data=b"#!/bin/sh\necho hello\n"),
    Entry("rootfs/etc", "dir"),
    Entry("rootfs/etc/hostname", data=b"box\n"),
    Entry("rootfs/bin/sh", "symlink", linkname="hello"),
)
VALID_IMAGE = (MANIFEST, ROOTFS, *ROOTFS_FILES)


@dataclass(frozen=True)
class ImageCase:
    """An image archive (or, in LAYOUT_CASES, a layout) built from ``entries``."""

    id: str
    entries: tuple[Entry, ...]
    verdict: Verdict
    compression: str = "none"
    xfail: str = ""
    #: Damage done to the (compressed) file: bytes cut from its end, bytes appended.
    cut: int = 0
    trailer: bytes = b""


def image_case(
    id: str,
    entries: Any,
    verdict: Verdict,
    compression: str = "none",
    xfail: str = "",
    cut: int = 0,
    trailer: bytes = b"",
) -> ImageCase:
    return ImageCase(id, tuple(entries), verdict, compression, xfail, cut, trailer)


COMPRESSIONS = ("none", "gzip", "bzip2", "xz")

ARCHIVE_CASES: list[ImageCase] = [
    *(image_case(f"valid-{c}", VALID_IMAGE, V, c) for c in COMPRESSIONS),
    image_case("valid-only-manifest-and-rootfs", (MANIFEST, ROOTFS), V),
    image_case("valid-rootfs-first", (ROOTFS, *ROOTFS_FILES, MANIFEST), V),
    image_case(
        "valid-dot-slash-names",
        (
            manifest_entry(name="./manifest"),
            Entry("./rootfs/", "dir"),
            Entry("./rootfs/a", data=b"a"),
        ),
        V,
    ),
    image_case(
        "valid-hardlink-in-rootfs",
        (*VALID_IMAGE, Entry("rootfs/bin/hi", "hardlink", linkname="rootfs/bin/hello")),
        V,
    ),
    image_case(
        "valid-unicode-manifest",
        (
            manifest_entry(image(annotations=[{"name": "description", "value": "naïve ☕ <&>"}])),
            ROOTFS,
        ),
        V,
        "gzip",
    ),
    image_case("missing-manifest", (ROOTFS, *ROOTFS_FILES), X),
    image_case("missing-manifest-xz", (ROOTFS, *ROOTFS_FILES), X, "xz"),
    image_case("missing-rootfs", (MANIFEST,), X),
    image_case("missing-rootfs-gzip", (MANIFEST,), X, "gzip"),
    image_case("rootfs-is-file", (MANIFEST, Entry("rootfs", data=b"x")), X),
    image_case("manifest-is-dir", (Entry("manifest", "dir"), ROOTFS), X),
    image_case(
        "manifest-is-symlink",
        (
            Entry("manifest", "symlink", linkname="rootfs/m"),
            ROOTFS,
            manifest_entry(name="rootfs/m"),
        ),
        X,
    ),
    image_case("extra-top-level-file", (*VALID_IMAGE, Entry("README", data=b"hi")), X),
    image_case("extra-top-level-dir", (*VALID_IMAGE, Entry("etc", "dir")), X),
    image_case("extra-top-level-bzip2", (*VALID_IMAGE, Entry("extra", data=b"")), X, "bzip2"),
    image_case(
        "extra-file-escaping-rootfs", (*VALID_IMAGE, Entry("rootfs/../escape", data=b"x")), X
    ),
    image_case("duplicate-rootfs-file", (*VALID_IMAGE, Entry("rootfs/etc/hostname")), X),
    image_case("duplicate-rootfs-file-gzip", (*VALID_IMAGE, ROOTFS_FILES[1]), X, "gzip"),
    image_case("duplicate-manifest", (MANIFEST, MANIFEST, ROOTFS), X),
    image_case("invalid-manifest-name", (manifest_entry(image(name="Bad")), ROOTFS), X),
    image_case("invalid-manifest-json", (manifest_entry(b"{not json"), ROOTFS), X, "gzip"),
    image_case("invalid-manifest-empty", (manifest_entry(b""), ROOTFS), X),
    image_case("invalid-manifest-pod", (manifest_entry(pod()), ROOTFS), X),
    image_case(
        "invalid-manifest-bad-isolator",
        (manifest_entry(isolators(isolator("os/linux/cpu-shares", 1))), ROOTFS),
        X,
        "xz",
    ),
    image_case("empty-archive", (), X),
    image_case(
        "duplicate-manifest-dot-slash", (MANIFEST, ROOTFS, manifest_entry(name="./manifest")), X
    ),
    image_case("duplicate-dir-in-rootfs", (*VALID_IMAGE, Entry("rootfs/bin", "dir")), X),
    image_case("rootfs-only-implied", (MANIFEST, Entry("rootfs/a", data=b"a")), X),
    image_case(
        "absolute-member-names", (manifest_entry(name="/manifest"), Entry("/rootfs", "dir")), X
    ),
    image_case("rootfs-is-symlink", (MANIFEST, Entry("rootfs", "symlink", linkname="/")), X),
    image_case(
        "manifest-is-hardlink",
        (
            ROOTFS,
            manifest_entry(name="rootfs/m"),
            Entry("manifest", "hardlink", linkname="rootfs/m"),
        ),
        X,
    ),
    image_case(
        "valid-absolute-symlink-in-rootfs",
        (*VALID_IMAGE, Entry("rootfs/etc/mtab", "symlink", linkname="/proc/self/mounts")),
        V,
        "bzip2",
    ),
    image_case("valid-old-minor-version", (manifest_entry(image(acVersion="0.1.0")), ROOTFS), V),
]

LAYOUT_CASES: list[ImageCase] = [
    image_case("layout-valid", VALID_IMAGE, V),
    image_case("layout-valid-empty-rootfs", (MANIFEST, ROOTFS), V),
    image_case("layout-missing-manifest", (ROOTFS, *ROOTFS_FILES), X),
    image_case("layout-missing-rootfs", (MANIFEST,), X),
    image_case("layout-rootfs-is-file", (MANIFEST, Entry("rootfs", data=b"")), X),
    image_case("layout-manifest-is-dir", (Entry("manifest", "dir"), ROOTFS), X),
    image_case("layout-extra-top-level-file", (*VALID_IMAGE, Entry("notes.txt", data=b"")), X),
    image_case("layout-extra-top-level-dir", (*VALID_IMAGE, Entry("var", "dir")), X),
    image_case("layout-invalid-manifest", (manifest_entry(image(acVersion="0.8")), ROOTFS), X),
    image_case("layout-invalid-manifest-json", (manifest_entry(b"[]"), ROOTFS), X),
]

_Q_NO_DUPLICATES = "Image archives MUST be a tar formatted file with no duplicate entries."
_Q_TWO_PATHNAMES = (
    "Image archives MUST have only two top-level pathnames, manifest (a regular file) and rootfs "
    "(a directory). Image archives with additional files outside of rootfs are not valid."
)
_Q_COMPRESSED = "Image archives MAY be compressed with gzip, bzip2, or xz."
_Q_LAYOUT = (
    "It includes a rootfs directory with all of the files that will exist in the root of the "
    "app, and an app image manifest file describing the contents of the image and how to "
    "execute the app."
)

# The reference tells "rootfs/..." from other names with strings.HasPrefix(name, "rootfs"), so
# "rootfsextra" passes; it skips its duplicate check for "manifest" and "rootfs", and reads two
# "manifest" entries as one concatenated document. It stops reading at the tar's end, so damage
# after it goes unseen (and the exit status of its xz child is not checked).
ARCHIVE_DIVERGENCES: list[Divergence] = [
    Divergence(
        image_case("xz-stream-truncated-after-tar", VALID_IMAGE, X, "xz", cut=40),
        "valid",
        "aci.md",
        _Q_COMPRESSED,
    ),
    Divergence(
        image_case("gzip-garbage-after-stream", VALID_IMAGE, X, "gzip", trailer=b"\x1f\x8bjunk"),
        "valid",
        "aci.md",
        _Q_COMPRESSED,
    ),
    Divergence(
        image_case(
            "top-level-rootfs-prefixed-file", (*VALID_IMAGE, Entry("rootfsextra", data=b"x")), X
        ),
        "valid",
        "aci.md",
        _Q_TWO_PATHNAMES,
    ),
    Divergence(
        image_case(
            "top-level-rootfs-prefixed-dir",
            (*VALID_IMAGE, Entry("rootfs.old", "dir"), Entry("rootfs.old/x")),
            X,
            "gzip",
        ),
        "valid",
        "aci.md",
        _Q_TWO_PATHNAMES,
    ),
    Divergence(
        image_case("duplicate-rootfs-dir", (MANIFEST, ROOTFS, ROOTFS), X),
        "valid",
        "aci.md",
        _Q_NO_DUPLICATES,
    ),
    Divergence(
        image_case(
            "duplicate-rootfs-via-dot-dot", (MANIFEST, ROOTFS, Entry("rootfs/a/..", "dir")), X
        ),
        "valid",
        "aci.md",
        _Q_NO_DUPLICATES,
    ),
    Divergence(
        image_case(
            "duplicate-manifest-second-empty", (MANIFEST, ROOTFS, manifest_entry(b"")), X, "xz"
        ),
        "valid",
        "aci.md",
        _Q_NO_DUPLICATES,
    ),
]

LAYOUT_DIVERGENCES: list[Divergence] = [
    Divergence(
        image_case(
            "layout-top-level-rootfs-prefixed-file",
            (*VALID_IMAGE, Entry("rootfsextra", data=b"x")),
            X,
        ),
        "valid",
        "aci.md",
        _Q_LAYOUT,
    ),
    Divergence(
        image_case(
            "layout-top-level-rootfs-prefixed-dir", (*VALID_IMAGE, Entry("rootfs.old", "dir")), X
        ),
        "valid",
        "aci.md",
        _Q_LAYOUT,
    ),
]

# --------------------------------------------------------------------------------------------
# Manifests for ``actool cat-manifest``: both tools must print the same bytes, as stored and
# (``--pretty-print``) re-encoded the way Go's json.MarshalIndent does.

_ALL_ISOLATORS = [
    isolator("resource/cpu", {"request": "250m", "limit": "500m"}),
    isolator("resource/memory", {"request": "1G", "limit": "2Gi"}),
    isolator("resource/block-bandwidth", {"default": True, "limit": "2M"}),
    isolator("resource/block-iops", {"default": True, "limit": "1000"}),
    isolator("resource/network-bandwidth", {"default": True, "limit": "1G"}),
    isolator("os/linux/capabilities-retain-set", {"set": ["CAP_NET_ADMIN", "CAP_CHOWN"]}),
    isolator("os/linux/no-new-privileges", True),
    isolator("os/linux/seccomp-remove-set", {"errno": "ENOTSUP", "set": ["@appc.io/empty"]}),
    isolator(
        "os/linux/selinux-context",
        {"user": "system_u", "role": "system_r", "type": "dhcpc_t", "level": "s0:c1,c2"},
    ),
    isolator("os/linux/oom-score-adj", -17),
    isolator("os/linux/cpu-shares", 512),
    isolator("os/unix/sysctl", {"net.ipv4.tcp_keepalive_time": "300", "kernel.msgmax": "8192"}),
]

_SPECIAL = '<b>&amp;</b> "quoted" back\\slash tab\t nl\n ☕ é \u2028 \u2029 \x7f \x01 /'

CAT_MANIFESTS: dict[str, bytes] = {
    "minimal": b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a"}',
    "base": json.dumps(image()).encode(),
    "spec-example": next(c.content for c in IMAGE_CASES if c.id == "image-spec-example-like"),
    "all-isolators": json.dumps(app(isolators=_ALL_ISOLATORS)).encode(),
    "isolator-raw-value-kept": (
        b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a","app":{"user":"0",'
        b'"group":"0","isolators":[{"name":"resource/cpu","value":{ "limit" : "500m",'
        b' "request":"250m", "note": [1, -2, 0.5, "<&>", {"b": null, "a": true}] }}]}}'
    ),
    "ports-defaults": json.dumps(
        app(
            ports=[
                {"name": "http", "protocol": "tcp", "port": 80},
                {
                    "name": "range",
                    "protocol": "udp",
                    "port": 20000,
                    "count": 100,
                    "socketActivated": True,
                },
            ]
        )
    ).encode(),
    "special-characters": json.dumps(
        image(
            labels=[{"name": "version", "value": _SPECIAL}],
            annotations=[
                {"name": "authors", "value": _SPECIAL},
                {"name": "homepage", "value": "https://example.com/?a=1&b=<2>"},
            ],
            app=edit(
                BASE_APP,
                {
                    "exec": ["/bin/echo", _SPECIAL],
                    "environment": [{"name": "GREETING", "value": _SPECIAL}],
                    "userAnnotations": {"<key>": _SPECIAL},
                    "userLabels": {"ключ": "значение"},
                },
            ),
        ),
        ensure_ascii=False,
    ).encode(),
    "escaped-unicode-input": (
        b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a","annotations":'
        b'[{"name":"x","value":"\\u00e9\\u2603\\ud83d\\ude00\\u003c\\/"}]}'
    ),
    "app-without-exec": json.dumps(app(exec=DROP, workingDirectory="/srv")).encode(),
    "app-empty-lists": json.dumps(
        image(
            labels=[],
            app=edit(
                BASE_APP,
                {
                    "exec": [],
                    "environment": [],
                    "mountPoints": [],
                    "ports": [],
                    "isolators": [],
                    "eventHandlers": [],
                    "supplementaryGIDs": [],
                },
            ),
        )
    ).encode(),
    "everything-app": json.dumps(
        app(
            supplementaryGIDs=[0, 4294967295],
            eventHandlers=[
                {"exec": ["/pre"], "name": "pre-start"},
                {"name": "post-stop", "exec": []},
            ],
            mountPoints=[
                {"name": "a", "path": "/a", "readOnly": True},
                {"name": "b", "path": "/b"},
            ],
            environment=[{"name": "A", "value": ""}],
        )
    ).encode(),
    "dependencies": json.dumps(
        image(
            dependencies=[
                {
                    "imageName": "example.com/base",
                    "imageID": SHA512,
                    "size": 9007199254740993,
                    "labels": [{"name": "os", "value": "linux"}],
                },
                {"imageName": "example.com/other", "size": 0},
            ],
            pathWhitelist=["/etc/", "/bin/sh"],
        )
    ).encode(),
    "unknown-members-dropped": json.dumps(
        image(comment="x", app=edit(BASE_APP, {"extra": [1]}))
    ).encode(),
    "layout-whitespace-and-newline": (
        b'{\n\t"acKind" : "ImageManifest",\r\n  "acVersion":"0.8.11+build.7",'
        b'\n  "name":"example.com/x"\n}\n\n'
    ),
    "isolator-raw-number-text": (
        b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a","app":{"user":"0",'
        b'"group":"0","isolators":[{"name":"resource/cpu","value":{"limit":"1",'
        b'"n":[1.50,1e3,-0,1E-2]}}]}}'
    ),
    "handler-without-exec": json.dumps(app(eventHandlers=[{"name": "post-stop"}])).encode(),
    "member-order-scrambled": json.dumps(
        {
            "app": {"group": "0", "user": "0", "exec": ["/x"]},
            "name": "z",
            "acVersion": "0.8.11-rc.1",
            "acKind": "ImageManifest",
            "annotations": [{"value": "2014-10-27T19:32:27.67021798Z", "name": "created"}],
        }
    ).encode(),
}
