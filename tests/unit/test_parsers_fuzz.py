"""Every parser turns malformed input into its documented error, never anything else
(issue "nothing lost, nothing left, never a traceback").

Hypothesis writes the inputs: arbitrary bytes, the hostile JSON texts of :mod:`tests.hostile`
(nesting 100,000 deep, invalid UTF-8, NUL bytes, numbers out of range, duplicate keys, ...),
JSON values of every shape, valid documents with one value replaced anywhere in them, and
valid archives with bytes flipped, cut or inserted. CI runs the default profile (a few seconds
per property); ``pytest --hypothesis-profile=long tests/unit/test_parsers_fuzz.py`` runs
20,000 examples of each (tests/conftest.py).

The documented errors: ``appc.errors.AppcError`` (ValidationError, ArchiveError) for the appc
library; ``rkt.errors.RktError`` (ConfigError, NetworkError, ...) for rkt;
``rkt.jsondoc.JSONError`` (a ValueError) for JSON that rkt reads; usage errors exit 254.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appc.errors import AppcError
from tests.hostile import aci, entry, json_documents, manifest

#: 300 examples in CI (a few seconds per property), or the profile's count when it asks more
EXAMPLES = max(300, settings.default.max_examples)
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

HOSTILE_JSON = [data for _what, data in json_documents()]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value where another value could stand."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


@st.composite
def mutated_documents(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    """``base`` with one value (or a new key) replaced by any JSON value, as JSON text."""
    doc: Any = base
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(doc)))
        if draw(st.booleans()) and path and isinstance(_replace(doc, path[:-1], None), dict):
            path = (*path[:-1], draw(st.text(max_size=10)))
            with contextlib.suppress(KeyError, IndexError, TypeError):
                doc = _replace(doc, path, draw(json_values))
            continue
        doc = _replace(doc, path, draw(json_values))
    return json.dumps(doc).encode()


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with bytes flipped, a piece cut out or junk inserted, or cut short."""
    out = bytearray(data)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not out:
            break
        where = draw(st.integers(min_value=0, max_value=len(out) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if action == "flip":
            out[where] ^= draw(st.integers(min_value=1, max_value=255))
        elif action == "cut":
            del out[where : where + draw(st.integers(min_value=1, max_value=600))]
        elif action == "insert":
            out[where:where] = draw(st.binary(min_size=1, max_size=600))
        else:
            del out[where:]
    return bytes(out)


def any_bytes(base: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=2000),
        st.sampled_from(HOSTILE_JSON),
        damaged(base),
    )


IMAGE = manifest(
    "example.com/app",
    app={
        "exec": ["/bin/app", "--flag"],
        "user": "0",
        "group": "0",
        "environment": [{"name": "A", "value": "b"}],
        "mountPoints": [{"name": "data", "path": "/data", "readOnly": True}],
        "ports": [{"name": "http", "protocol": "tcp", "port": 80}],
        "isolators": [{"name": "resource/memory", "value": {"limit": "1G"}}],
    },
    dependencies=[{"imageName": "example.com/base", "labels": [{"name": "version", "value": "1"}]}],
    annotations=[{"name": "created", "value": "2020-01-01T00:00:00Z"}],
)
POD = {
    "acKind": "PodManifest",
    "acVersion": "0.8.11",
    "apps": [
        {
            "name": "app",
            "image": {"id": "sha512-" + "a" * 128, "name": "example.com/app"},
            "app": IMAGE["app"],
            "mounts": [{"volume": "data", "path": "/data"}],
        }
    ],
    "volumes": [{"name": "data", "kind": "empty"}],
    "ports": [{"name": "http", "hostPort": 8080}],
    "annotations": [{"name": "x", "value": "y"}],
}


# --- appc: image and pod manifests ------------------------------------------------------------


@SETTINGS
@given(st.one_of(any_bytes(json.dumps(IMAGE).encode()), mutated_documents(IMAGE)))
def test_image_manifest(data: bytes) -> None:
    from appc.errors import ValidationError
    from appc.schema.image import ImageManifest

    with contextlib.suppress(ValidationError):
        parsed = ImageManifest.from_json(data)
        ImageManifest.from_json(parsed.to_json())  # what we accept we can write and re-read


@SETTINGS
@given(st.one_of(any_bytes(json.dumps(POD).encode()), mutated_documents(POD)))
def test_pod_manifest(data: bytes) -> None:
    """appc's schema, then rkt's own checks for ``--pod-manifest`` files."""
    from rkt.errors import ConfigError
    from rkt.stage0.pod_manifest import parse

    with contextlib.suppress(ConfigError):
        parse(data, "pod.json")


# --- appc: the archive reader -----------------------------------------------------------------

_ACI = aci(
    [
        entry("rootfs/bin", b"5", mode=0o755),
        entry("rootfs/bin/app", data=b"#!/bin/sh\necho hi\n" * 20, mode=0o755),
        entry("rootfs/link", b"2", linkname="bin/app"),
        entry("rootfs/hard", b"1", linkname="rootfs/bin/app"),
        entry("rootfs/x", data=b"x", pax={"SCHILY.xattr.user.k": "v", "mtime": "1.5"}),
    ]
)


@SETTINGS
@given(st.one_of(any_bytes(_ACI), damaged(_ACI), damaged(__import__("gzip").compress(_ACI))))
def test_archive_reader(data: bytes) -> None:
    from appc.aci.reader import open_archive

    with contextlib.suppress(AppcError), open_archive(io.BytesIO(data)) as reader:
        for _member in reader:
            reader.copy_data(lambda chunk: None)
        assert reader.image_id.startswith("sha512-")


@SETTINGS
@given(
    st.one_of(
        st.binary(min_size=512, max_size=512),
        damaged(_ACI[:512]).map(lambda b: b[:512].ljust(512, b"\0")),
    )
)
def test_tar_header(block: bytes) -> None:
    from appc.aci.tarheader import parse

    with contextlib.suppress(AppcError):
        parse(block)


# --- discovery pages, CNI results, JSON rkt reads ---------------------------------------------

_PAGE = (
    b'<html><head><meta name="ac-discovery" content="example.com https://example.com/{name}.{ext}">'
    b'<meta name="ac-discovery-pubkeys" content="example.com https://example.com/k"></head></html>'
)


@SETTINGS
@given(st.one_of(any_bytes(_PAGE), st.text(max_size=300).map(str.encode)))
def test_discovery_page(data: bytes) -> None:
    from appc.discovery._meta import parse_meta

    for meta in parse_meta(data):
        assert meta.name.startswith("ac-")


_RESULT = {
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "eth0", "mac": "aa:bb:cc:dd:ee:ff", "sandbox": "/n"}],
    "ips": [{"address": "10.1.0.2/24", "gateway": "10.1.0.1", "interface": 0}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}],
    "dns": {"nameservers": ["10.1.0.1"], "search": ["x"]},
}


@SETTINGS
@given(st.one_of(any_bytes(json.dumps(_RESULT).encode()), mutated_documents(_RESULT)))
def test_cni_result(data: bytes) -> None:
    from rkt import jsondoc
    from rkt.errors import NetworkError
    from rkt.net.result import parse_result

    with contextlib.suppress(jsondoc.JSONError, NetworkError):
        parse_result(jsondoc.loads(data), "plugin ptp")


@SETTINGS
@given(st.one_of(st.binary(max_size=500), st.sampled_from(HOSTILE_JSON)))
def test_json_rkt_reads(data: bytes) -> None:
    from rkt import jsondoc

    with contextlib.suppress(jsondoc.JSONError):
        jsondoc.loads(data)


# --- configuration files -----------------------------------------------------------------------

_AUTH = {"rktKind": "auth", "rktVersion": "v1", "domains": ["example.com"], "type": "basic",
         "credentials": {"user": "u", "password": "p"}}  # fmt: skip
_DOCKER = {"rktKind": "dockerAuth", "rktVersion": "v1", "registries": ["quay.io"],
           "credentials": {"user": "u", "password": "p"}}  # fmt: skip
_PATHS = {"rktKind": "paths", "rktVersion": "v1", "data": "/var/lib/rkt"}
_STAGE1 = {"rktKind": "stage1", "rktVersion": "v1", "name": "x.com/s1", "version": "1"}
_NET = {"cniVersion": "1.0.0", "name": "mynet", "type": "ptp",
        "ipam": {"type": "host-local", "subnet": "10.1.2.0/24"}}  # fmt: skip


def _config_texts() -> st.SearchStrategy[tuple[str, bytes]]:
    kinds = [("auth.d/a.json", _AUTH), ("auth.d/d.json", _DOCKER), ("paths.d/p.json", _PATHS),
             ("stage1.d/s.json", _STAGE1), ("net.d/n.conf", _NET)]  # fmt: skip
    return st.sampled_from(kinds).flatmap(
        lambda kind: st.tuples(
            st.just(kind[0]),
            st.one_of(any_bytes(json.dumps(kind[1]).encode()), mutated_documents(kind[1])),
        )
    )


@SETTINGS
@given(_config_texts())
def test_configuration_files(case: tuple[str, bytes]) -> None:
    from rkt.config import ConfigDirs, load_auth, load_docker_auth
    from rkt.config_merge import merged
    from rkt.errors import ConfigError
    from rkt.net.config import load_networks

    name, data = case
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "local"
        (local / name).parent.mkdir(parents=True)
        (local / name).write_bytes(data)
        dirs = ConfigDirs(system=Path(tmp) / "system", local=local, user=None)
        for load in (load_auth, load_docker_auth, merged, lambda d: load_networks(d)):
            with contextlib.suppress(ConfigError):
                load(dirs)


# --- JSON on the command line ------------------------------------------------------------------


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.one_of(any_bytes(json.dumps(POD).encode()), mutated_documents(POD)))
def test_pod_manifest_on_the_command_line(
    data: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``rkt prepare --pod-manifest=FILE``: one line on stderr and 254, whatever the file."""
    from rkt.cli.main import main

    path = tmp_path / f"pod-{os.urandom(4).hex()}.json"
    path.write_bytes(data)
    code = main([f"--dir={tmp_path / 'data'}", "prepare", f"--pod-manifest={path}"])
    _out, err = capsys.readouterr()
    assert code == 254
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("prepare: "), err
