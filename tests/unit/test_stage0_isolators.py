"""The per-app isolator flags of ``rkt run``/``prepare`` (--memory, --cpu, --cpu-shares,
--oom-score-adj, --caps-retain, --caps-remove, --seccomp): their reading, the isolators they put
on the pod manifest's app (replacing the image's of the same kind), and
``--insecure-options=capabilities`` in the plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from appc.schema.app import App
from appc.schema.image import ImageManifest
from appc.schema.isolator import Isolator, parse_isolators
from appc.schema.linux import DEFAULT_CAPABILITIES
from appc.schema.semver import SemVer
from rkt.errors import ConfigError
from rkt.stage0.apps import parse_apps, parse_seccomp
from rkt.stage0.manifest import ResolvedApp, pod_manifest
from rkt.stage1.planner import capabilities
from rkt.stage1.planner.capabilities import KNOWN_CAPABILITIES
from rkt.stage1.planner.plan import PlanError
from tests.unit.test_stage1_support import make_rootfs, plan

ID = "sha512-" + "ab" * 64


def isolators_of(*words: str) -> dict[str, Isolator]:
    return parse_apps(["example.com/app", *words], {}).apps[0].isolators


def error_of(*words: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_apps(["example.com/app", *words], {})
    return str(caught.value)


def test_resource_flags_give_request_and_limit() -> None:
    found = isolators_of("--memory=32M", "--cpu", "500m")
    memory, cpu = found["--memory"], found["--cpu"]
    assert (memory.name, memory.raw) == ("resource/memory", {"request": "32M", "limit": "32M"})
    assert (cpu.name, cpu.raw) == ("resource/cpu", {"request": "500m", "limit": "500m"})


def test_linux_number_flags() -> None:
    found = isolators_of("--cpu-shares=2048", "--oom-score-adj=-300")
    assert (found["--cpu-shares"].name, found["--cpu-shares"].raw) == ("os/linux/cpu-shares", 2048)
    assert (found["--oom-score-adj"].name, found["--oom-score-adj"].raw) == (
        "os/linux/oom-score-adj",
        -300,
    )


def test_capability_flags_normalize_names() -> None:
    retain = isolators_of("--caps-retain=net_bind_service,CAP_CHOWN")["--caps-retain"]
    assert retain.name == "os/linux/capabilities-retain-set"
    assert retain.raw == {"set": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"]}
    remove = isolators_of("--caps-remove=CAP_CHOWN")["--caps-remove"]
    assert (remove.name, remove.raw) == ("os/linux/capabilities-remove-set", {"set": ["CAP_CHOWN"]})


def test_seccomp_flag() -> None:
    assert parse_seccomp("mode=remove,errno=EPERM,mkdir,rmdir") == (
        "os/linux/seccomp-remove-set",
        {"set": ["mkdir", "rmdir"], "errno": "EPERM"},
    )
    # rkt takes the options anywhere in the list.
    assert parse_seccomp("@rkt/default-whitelist,mode=retain") == (
        "os/linux/seccomp-retain-set",
        {"set": ["@rkt/default-whitelist"]},
    )
    found = isolators_of("--seccomp", "mode=retain,errno=ENOSYS,read")["--seccomp"]
    assert found.name == "os/linux/seccomp-retain-set"


def test_a_later_flag_wins() -> None:
    assert isolators_of("--memory=32M", "--memory=64M")["--memory"].raw["limit"] == "64M"


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("--memory=lots",), 'invalid --memory "lots"'),
        (("--memory=16m",), "too low"),
        (("--cpu=-1",), 'invalid --cpu "-1": expected a positive'),
        (("--cpu=0",), 'invalid --cpu "0"'),
        (("--cpu-shares=1",), 'invalid --cpu-shares "1"'),
        (("--cpu-shares=many",), 'invalid --cpu-shares "many": expected an integer'),
        (("--oom-score-adj=1001",), 'invalid --oom-score-adj "1001"'),
        (("--oom-score-adj=x",), 'invalid --oom-score-adj "x"'),
        (("--caps-retain=CAP_NOPE",), 'unknown capability "CAP_NOPE"'),
        (("--caps-remove=",), 'invalid --caps-remove ""'),
        (("--seccomp=mode=keep,mkdir",), "mode must be retain or remove"),
        (("--seccomp=mkdir",), "mode must be retain or remove"),
        (("--seccomp=mode=remove",), "set must not be empty"),
        (("--seccomp=mode=remove,errno=eperm,mkdir",), 'invalid --seccomp "mode=remove,errno'),
        (("--seccomp=mode=remove,signal=9,mkdir",), 'unknown option "signal"'),
        (
            ("--caps-retain=CAP_CHOWN", "--caps-remove=CAP_KILL"),
            "cannot use both --caps-retain and --caps-remove",
        ),
    ],
)
def test_bad_values_name_the_flag(words: tuple[str, ...], expected: str) -> None:
    assert expected in error_of(*words)


def test_flags_must_follow_an_image() -> None:
    with pytest.raises(ConfigError, match="--memory must follow an image"):
        parse_apps(["--memory=32M"], {})


def test_stream_flags_become_rkts_annotations() -> None:
    from rkt.stage0.apps import parse_apps

    parsed = parse_apps(["img", "--stdin=stream", "--stdout=tty", "--stderr=null"], {})
    assert parsed.apps[0].annotations == {
        "coreos.com/rkt/stage1/stdin": "stream",
        "coreos.com/rkt/stage1/stdout": "tty",
        "coreos.com/rkt/stage1/stderr": "null",
    }


def image_with(isolators: list[dict[str, Any]]) -> ImageManifest:
    app = App(
        exec=("/bin/sh",), user="0", group="0", isolators=parse_isolators(isolators, "isolators")
    )
    return ImageManifest(name="example.com/app", ac_version=SemVer.parse("0.8.11"), app=app)


def manifest_isolators(image: ImageManifest, *words: str) -> list[dict[str, Any]]:
    args = parse_apps(["example.com/app", *words], {}).apps[0]
    manifest = pod_manifest([ResolvedApp(args=args, image_id=ID, image=image)])
    document = json.loads(manifest.to_json())
    return list(document["apps"][0]["app"].get("isolators", []))


IMAGE_ISOLATORS = [
    {"name": "resource/memory", "value": {"limit": "1G"}},
    {"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_KILL"]}},
    {"name": "os/linux/seccomp-retain-set", "value": {"set": ["@rkt/default-whitelist"]}},
    {"name": "os/linux/no-new-privileges", "value": True},
    {"name": "example.com/unknown", "value": {"x": 1}},
]


def test_no_flags_keep_the_image_isolators() -> None:
    assert manifest_isolators(image_with(IMAGE_ISOLATORS)) == IMAGE_ISOLATORS


def test_flags_replace_the_image_isolators_of_their_kind() -> None:
    found = manifest_isolators(
        image_with(IMAGE_ISOLATORS),
        "--memory=64M",
        "--caps-retain=CAP_NET_BIND_SERVICE",
        "--seccomp=mode=remove,errno=EPERM,mkdir",
        "--oom-score-adj=300",
    )
    assert found == [
        {"name": "os/linux/no-new-privileges", "value": True},
        {"name": "example.com/unknown", "value": {"x": 1}},
        {"name": "resource/memory", "value": {"request": "64M", "limit": "64M"}},
        {"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_NET_BIND_SERVICE"]}},
        {"name": "os/linux/seccomp-remove-set", "value": {"set": ["mkdir"], "errno": "EPERM"}},
        {"name": "os/linux/oom-score-adj", "value": 300},
    ]


def test_flags_on_an_image_without_isolators() -> None:
    found = manifest_isolators(image_with([]), "--cpu-shares=512", "--cpu=250m")
    assert found == [
        {"name": "os/linux/cpu-shares", "value": 512},
        {"name": "resource/cpu", "value": {"request": "250m", "limit": "250m"}},
    ]


def test_flag_isolators_reach_the_plan(tmp_path: Path) -> None:
    # What stage1 makes of the pod manifest that stage0 wrote.
    args = parse_apps(["example.com/app", "--memory=64Mi", "--caps-remove=CAP_CHOWN"], {})
    manifest = pod_manifest([ResolvedApp(args=args.apps[0], image_id=ID, image=image_with([]))])
    runtime = json.loads(manifest.to_json())["apps"][0]
    app = plan(make_rootfs(tmp_path), runtime={"app": {**runtime["app"], "exec": ["/bin/app"]}})
    web = app.app("web")
    assert web.limits.memory == 64 << 20
    assert "CAP_CHOWN" not in web.capabilities.bounding
    assert set(web.capabilities.bounding) == set(DEFAULT_CAPABILITIES) - {"CAP_CHOWN"}


def test_unrestricted_capabilities_follow_the_runtime_mask() -> None:
    mask = (1 << 41) - 1 - (1 << 24)  # all known but CAP_SYS_RESOURCE, plus nothing above
    root = capabilities.unrestricted(mask, 0)
    assert root.bounding == tuple(c for c in KNOWN_CAPABILITIES if c != "CAP_SYS_RESOURCE")
    assert root.effective == root.permitted == root.bounding
    assert root.inheritable == ()  # GHSA-f3fp-gc8g-vw66
    assert root.ambient == ()
    user = capabilities.unrestricted(mask, 1000)
    assert user.bounding == root.bounding and user.effective == user.permitted == ()


def test_runtime_bounding(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n")
    assert capabilities.runtime_bounding(str(status)) == 0x1FFFEFFFFFF
    status.write_text("Name:\tx\n")
    with pytest.raises(PlanError, match="no CapBnd"):
        capabilities.runtime_bounding(str(status))


def test_insecure_capabilities_ignore_capability_isolators(tmp_path: Path) -> None:
    retain = {"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_KILL"]}}
    root = make_rootfs(tmp_path)
    restricted = plan(root, app={"isolators": [retain]}).app("web").capabilities
    assert restricted.bounding == ("CAP_KILL",)
    free = plan(root, app={"isolators": [retain]}, insecure_capabilities=True)
    expected = capabilities.unrestricted(capabilities.runtime_bounding(), 0)
    assert free.app("web").capabilities == expected
