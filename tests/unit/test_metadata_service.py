"""The metadata service's request handling, without sockets: ace.md's endpoints, their content
types, status codes and bodies; pods told apart by token and address; registration."""

from __future__ import annotations

import base64
import ipaddress
import json
from urllib.parse import urlencode

import pytest

from rkt.errors import ServiceError
from rkt.metadata import private, public
from rkt.metadata.client import metadata_url
from rkt.metadata.registry import Registry, parse_address

UUID = "6733c8d2-b32f-4a34-8a33-b3a6f2bc0c9e"
OTHER = "0f5a6c9e-2f0b-4c9d-8a0e-b2a4c1e3d5f7"
TOKEN = "a" * 32
OTHER_TOKEN = "b" * 32
IMAGE_ID = "sha512-" + "ab" * 64
POD_IP = ipaddress.ip_address("172.29.7.2")
LISTEN = ["0.0.0.0:18112"]


def _pod_manifest(annotations: list[dict[str, str]] | None = None) -> bytes:
    doc = {
        "acVersion": "0.8.11",
        "acKind": "PodManifest",
        "apps": [
            {
                "name": "web",
                "image": {"name": "example.com/web", "id": IMAGE_ID},
                "annotations": [{"name": "role", "value": "frontend"}],
            }
        ],
        "volumes": [],
        "isolators": [],
        "ports": [],
    }
    if annotations is not None:
        doc["annotations"] = annotations
    return json.dumps(doc).encode()


def _image_manifest() -> bytes:
    return json.dumps(
        {
            "acKind": "ImageManifest",
            "acVersion": "0.8.11",
            "name": "example.com/web",
            "annotations": [
                {"name": "role", "value": "image-role"},
                {"name": "authors", "value": "Carly"},
                {"name": "example.com/with/slash", "value": "yes"},
            ],
        }
    ).encode()


@pytest.fixture
def registry() -> Registry:
    found = Registry(key=b"k" * 64)
    put = private.handle(
        found,
        "PUT",
        f"/pods/{UUID}?token={TOKEN}&ip={POD_IP}",
        _pod_manifest([{"name": "ip-address", "value": "10.1.2.3"}]),
        LISTEN,
    )
    assert put.status == 200 and json.loads(put.body) == {"listen": LISTEN}
    assert (
        private.handle(found, "PUT", f"/pods/{UUID}/web", _image_manifest(), LISTEN).status == 200
    )
    return found


def _get(
    registry: Registry, path: str, peer: object = POD_IP, token: str = TOKEN
) -> public.Response:
    response, _ = public.handle(registry, "GET", f"/{token}/acMetadata/v1/{path}", peer)  # type: ignore[arg-type]
    return response


def _post(registry: Registry, path: str, fields: dict[str, str]) -> public.Response:
    response, _ = public.handle(
        registry,
        "POST",
        f"/{TOKEN}/acMetadata/v1/{path}",
        POD_IP,  # type: ignore[arg-type]
        urlencode(fields).encode(),
        "application/x-www-form-urlencoded",
    )
    return response


def test_pod_endpoints(registry: Registry) -> None:
    uuid = _get(registry, "pod/uuid")
    assert (uuid.status, uuid.content_type, uuid.body) == (200, public.TEXT, UUID.encode())
    annotations = _get(registry, "pod/annotations")
    assert annotations.content_type == "application/json"
    assert json.loads(annotations.body) == [{"name": "ip-address", "value": "10.1.2.3"}]
    one = _get(registry, "pod/annotations/ip-address")
    assert (one.status, one.body) == (200, b"10.1.2.3")
    manifest = _get(registry, "pod/manifest")
    assert manifest.content_type == "application/json"
    assert json.loads(manifest.body)["apps"][0]["name"] == "web"
    assert _get(registry, "pod/annotations/missing").status == 404
    assert _get(registry, "pod/annotations/Not_An_Identifier").status == 400
    assert _get(registry, "pod/nothing").status == 404


def test_pod_annotations_keep_null() -> None:
    """appc's decoder tells null from []: the validator compares with the manifest's own."""
    registry = Registry()
    private.handle(registry, "PUT", f"/pods/{UUID}?token={TOKEN}", _pod_manifest(), LISTEN)
    assert _get(registry, "pod/annotations", peer=None).body == b"null"


def test_app_endpoints(registry: Registry) -> None:
    merged = _get(registry, "apps/web/annotations")
    assert merged.content_type == "application/json"
    # The image's, with the pod manifest app's value replacing one of the same name in place.
    assert json.loads(merged.body) == [
        {"name": "role", "value": "frontend"},
        {"name": "authors", "value": "Carly"},
        {"name": "example.com/with/slash", "value": "yes"},
    ]
    assert _get(registry, "apps/web/annotations/example.com/with/slash").body == b"yes"
    assert _get(registry, "apps/web/annotations/authors").content_type == public.TEXT
    image_id = _get(registry, "apps/web/image/id")
    assert (image_id.status, image_id.content_type, image_id.body) == (
        200,
        public.TEXT,
        IMAGE_ID.encode(),
    )
    image = _get(registry, "apps/web/image/manifest")
    assert image.content_type == "application/json"
    assert json.loads(image.body)["name"] == "example.com/web"
    assert _get(registry, "apps/other/image/id").status == 404
    assert _get(registry, "apps/Bad_Name/image/id").status == 400
    assert _get(registry, "apps/web/annotations/nope").status == 404


def test_sign_and_verify(registry: Registry) -> None:
    signed = _post(registry, "pod/hmac/sign", {"content": "Old MacDonald"})
    assert (signed.status, signed.content_type) == (200, public.TEXT)
    assert len(base64.b64decode(signed.body)) == 64  # HMAC-SHA512
    fields = {"content": "Old MacDonald", "uuid": UUID, "signature": signed.body.decode()}
    assert _post(registry, "pod/hmac/verify", fields).status == 200
    assert _post(registry, "pod/hmac/verify", {**fields, "content": "other"}).status == 403
    assert _post(registry, "pod/hmac/verify", {**fields, "uuid": OTHER}).status == 403
    assert _post(registry, "pod/hmac/verify", {**fields, "uuid": "nope"}).status == 400
    assert _post(registry, "pod/hmac/verify", {**fields, "signature": "!!"}).status == 400
    assert _post(registry, "pod/hmac/sign", {}).status == 400
    # The same key signs for a registry that knows it: a signature outlives its pod.
    assert Registry(key=b"k" * 64).verify(UUID, b"Old MacDonald", base64.b64decode(signed.body))


def test_methods(registry: Registry) -> None:
    wrong, _ = public.handle(registry, "GET", f"/{TOKEN}/acMetadata/v1/pod/hmac/sign", POD_IP)
    assert wrong.status == 405 and ("Allow", "POST") in wrong.headers
    posted, _ = public.handle(registry, "POST", f"/{TOKEN}/acMetadata/v1/pod/uuid", POD_IP)
    assert posted.status == 405


def test_only_the_pod_itself_is_answered(registry: Registry) -> None:
    """The token and the requester's address must both be the pod's: a second pod that learnt
    the token, the host, and a wrong token are all refused with 401."""
    private.handle(
        registry, "PUT", f"/pods/{OTHER}?token={OTHER_TOKEN}&ip=172.29.7.3", _pod_manifest(), LISTEN
    )
    assert _get(registry, "pod/uuid", peer=ipaddress.ip_address("172.29.7.3")).status == 401
    assert _get(registry, "pod/uuid", peer=ipaddress.ip_address("127.0.0.1")).status == 401
    assert _get(registry, "pod/uuid", token="c" * 32).status == 401
    assert _get(registry, "pod/uuid", peer=None).status == 401
    other = _get(registry, "pod/uuid", peer=ipaddress.ip_address("172.29.7.3"), token=OTHER_TOKEN)
    assert other.body == OTHER.encode()
    # A dual-stack listener sees IPv4 peers as IPv4-mapped IPv6 addresses.
    assert _get(registry, "pod/uuid", peer=parse_address("::ffff:172.29.7.2")).status == 200


def test_host_network_pod_is_known_by_token() -> None:
    registry = Registry()
    private.handle(registry, "PUT", f"/pods/{UUID}?token={TOKEN}", _pod_manifest([]), LISTEN)
    assert _get(registry, "pod/uuid", peer=ipaddress.ip_address("127.0.0.1")).body == UUID.encode()
    assert _get(registry, "pod/annotations", peer=None).body == b"[]"


def test_unknown_paths(registry: Registry) -> None:
    for target in ("/", f"/{TOKEN}", f"/{TOKEN}/acMetadata/v2/pod/uuid", "//acMetadata/v1/pod"):
        response, uuid = public.handle(registry, "GET", target, POD_IP)
        assert response.status == 404 and uuid == "", target


def test_registration_errors() -> None:
    registry = Registry()
    manifest = _pod_manifest()
    cases = [
        ("PUT", f"/pods/{UUID}?token=short", manifest, 400),
        ("PUT", f"/pods/not-a-uuid?token={TOKEN}", manifest, 400),
        ("PUT", f"/pods/{UUID}?token={TOKEN}&ip=nowhere", manifest, 400),
        ("PUT", f"/pods/{UUID}?token={TOKEN}", b'{"acKind": "PodManifest"}', 400),
        ("PUT", f"/pods/{UUID}/web", _image_manifest(), 404),  # the pod first
        ("DELETE", f"/pods/{UUID}", b"", 404),
        ("GET", f"/pods/{UUID}", b"", 405),
        ("PUT", "/elsewhere", manifest, 404),
    ]
    for method, target, body, status in cases:
        assert private.handle(registry, method, target, body, LISTEN).status == status, target
    assert len(registry) == 0
    assert (
        private.handle(registry, "PUT", f"/pods/{UUID}?token={TOKEN}", manifest, []).status == 200
    )
    assert private.handle(registry, "PUT", f"/pods/{UUID}/web", b"{}", []).status == 400
    # Another pod cannot take a token in use; the same pod registering again replaces itself.
    taken = private.handle(registry, "PUT", f"/pods/{OTHER}?token={TOKEN}", manifest, [])
    assert taken.status == 409
    assert (
        private.handle(registry, "PUT", f"/pods/{UUID}?token={OTHER_TOKEN}", manifest, []).status
        == 200
    )
    assert private.handle(registry, "DELETE", f"/pods/{UUID}", b"", []).status == 200
    assert len(registry) == 0


def test_metadata_url() -> None:
    token = "t" * 32
    assert metadata_url(LISTEN, token, "172.29.7.1") == f"http://172.29.7.1:18112/{token}"
    assert metadata_url(["172.29.7.1:9"], token, "172.29.7.1") == f"http://172.29.7.1:9/{token}"
    assert metadata_url(["[::]:9"], token, "172.29.7.1") == f"http://172.29.7.1:9/{token}"
    assert metadata_url(["[::]:9"], token, "fd00::1") == f"http://[fd00::1]:9/{token}"
    assert metadata_url(["127.0.0.1:9"], token, None) == f"http://127.0.0.1:9/{token}"
    assert metadata_url(["10.0.0.1:9"], token, None) == f"http://10.0.0.1:9/{token}"
    with pytest.raises(ServiceError, match=r"cannot reach through its gateway 172\.29\.7\.1"):
        metadata_url(["127.0.0.1:9"], token, "172.29.7.1")
    with pytest.raises(ServiceError, match="no TCP address"):
        metadata_url(["unix:/run/x.sock"], token, None)
