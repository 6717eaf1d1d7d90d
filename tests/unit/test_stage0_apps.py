"""stage0's reading of image arguments and per-app flags, and the pod manifest built from them."""

from __future__ import annotations

import json

import pytest

from appc.schema.app import App
from appc.schema.environment import EnvironmentVariable
from appc.schema.image import ImageManifest
from appc.schema.labels import Label
from appc.schema.pod import Mount
from appc.schema.semver import SemVer
from appc.schema.volume import Volume
from rkt.errors import ConfigError
from rkt.stage0.apps import AppArgs, parse_apps, parse_mount
from rkt.stage0.manifest import ResolvedApp, pod_manifest
from rkt.stage0.options import RunOptions, parse_hosts_entries, stage1_options, with_hostname

POD_FLAGS = {"--uuid-file-save": True, "--no-overlay": False}
ID = "sha512-" + "ab" * 64


def image(name: str, app: App | None = None) -> ImageManifest:
    return ImageManifest(
        name=name,
        ac_version=SemVer.parse("0.8.11"),
        labels=(Label(name="version", value="1.0"),),
        app=app,
    )


BUSYBOX = App(
    exec=("/bin/sh", "-c", "echo hi"),
    user="0",
    group="0",
    environment=(EnvironmentVariable(name="A", value="image"),),
)


def test_flags_follow_their_image() -> None:
    words = [
        "img1", "--exec=/bin/sh", "--name", "one", "--", "-c", "exit 3", "---",
        "img2", "--user=1000", "--group", "100", "--environment=K=V", "--environment=X=a=b",
        "img3", "--", "--exec=/not/a/flag", "---",
    ]  # fmt: skip
    apps = parse_apps(words, POD_FLAGS).apps
    assert [a.image for a in apps] == ["img1", "img2", "img3"]
    assert apps[0].exec == "/bin/sh" and apps[0].name == "one"
    assert apps[0].args == ["-c", "exit 3"]
    assert (apps[1].user, apps[1].group, apps[1].exec) == ("1000", "100", None)
    assert apps[1].environment == {"K": "V", "X": "a=b"}
    assert apps[2].args == ["--exec=/not/a/flag"] and apps[2].exec is None


def test_args_run_to_the_end_without_terminator() -> None:
    apps = parse_apps(["img", "--", "a", "img2"], POD_FLAGS).apps
    assert len(apps) == 1 and apps[0].args == ["a", "img2"]


def test_pod_flags_between_images_are_handed_back() -> None:
    result = parse_apps(["img", "--uuid-file-save", "/f", "--no-overlay", "img2"], POD_FLAGS)
    assert [a.image for a in result.apps] == ["img", "img2"]
    assert result.pod_words == ["--uuid-file-save", "/f", "--no-overlay"]


def test_mount_readonly_and_gids() -> None:
    (app,) = parse_apps(
        ["img", "--mount", "volume=data,target=/data", "--readonly-rootfs", "T",
         "--supplementary-gids=1,2"],
        POD_FLAGS,
    ).apps  # fmt: skip
    assert app.mounts == [Mount(volume="data", path="/data")]
    assert app.readonly_rootfs and app.supplementary_gids == (1, 2)


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--", "x"], "an image is required"),
        (["img", "--", "a", "---", "--", "b"], "only one set"),
        (["img", "--exec=/a", "--exec=/b"], "multiple times"),
        (["img", "--exec=relative"], "absolute"),
        (["img", "--bogus"], "unknown flag"),
        (["img", "--stdin=log"], "expected one of null, stream, tty"),
        (["img", "--stdout=file"], "expected one of null, log, stream, tty"),
        (["img", "--exec"], "needs an argument"),
        (["img", "--environment=NOEQUALS"], "key=value"),
        (["img", "--mount=volume=x"], "volume=NAME,target=PATH"),
    ],
)
def test_bad_command_lines(words: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_apps(words, POD_FLAGS)


def test_parse_mount_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="unknown mount parameter"):
        parse_mount("volume=a,target=/b,mode=ro")


def resolved(args: AppArgs, name: str = "example.com/tools/busybox", app: App | None = BUSYBOX):
    return ResolvedApp(args=args, image_id=ID, image=image(name, app))


def test_manifest_names_images_and_overrides() -> None:
    args = AppArgs(image="x", exec="/bin/true", args=["-v"], user="7", environment={"A": "cli"})
    pm = pod_manifest([resolved(args), resolved(AppArgs(image="y", name="second"))])
    first, second = pm.apps
    assert first.name == "busybox" and second.name == "second"
    assert first.image.id == ID and first.image.name == "example.com/tools/busybox"
    assert first.image.labels == (Label(name="version", value="1.0"),)
    assert first.app is not None and second.app is not None
    assert first.app.exec == ("/bin/true", "-v") and first.app.user == "7"
    assert first.app.environment == (EnvironmentVariable(name="A", value="cli"),)
    assert second.app == BUSYBOX  # untouched when nothing is overridden
    assert [(a.name, a.value) for a in pm.annotations] == [
        ("coreos.com/rkt/stage1/mutable", "false")
    ]


def test_args_without_exec_append_to_the_image_exec() -> None:
    pm = pod_manifest([resolved(AppArgs(image="x", args=["more"]))])
    assert pm.apps[0].app is not None
    assert pm.apps[0].app.exec == ("/bin/sh", "-c", "echo hi", "more")


def test_image_without_app_needs_exec() -> None:
    with pytest.raises(ConfigError, match="no app section"):
        pod_manifest([resolved(AppArgs(image="x"), app=None)])
    pm = pod_manifest([resolved(AppArgs(image="x", exec="/bin/sh"), app=None)])
    assert pm.apps[0].app is not None and pm.apps[0].app.exec == ("/bin/sh",)


def test_duplicate_app_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="multiple apps with name busybox"):
        pod_manifest([resolved(AppArgs(image="x")), resolved(AppArgs(image="y"))])


def test_volumes_and_mounts() -> None:
    volume = Volume.from_string("data,kind=host,source=/srv")
    app_mount = AppArgs(image="x", mounts=[Mount(volume="data", path="/a")])
    pm = pod_manifest(
        [resolved(app_mount)], volumes=[volume], pod_mounts=[Mount(volume="data", path="/b")]
    )
    assert pm.volumes == (volume,)
    assert [m.path for m in pm.apps[0].mounts] == ["/b", "/a"]
    with pytest.raises(ConfigError, match="no --volume defines"):
        pod_manifest([resolved(app_mount)])


def test_inherit_env_does_not_override_the_image() -> None:
    pm = pod_manifest([resolved(AppArgs(image="x"))], inherit_env={"A": "host", "H": "1"})
    assert pm.apps[0].app is not None
    assert [(v.name, v.value) for v in pm.apps[0].app.environment] == [("A", "image"), ("H", "1")]


def test_options_json() -> None:
    run = RunOptions(
        set_env=(("K", "V"),),
        dns=("8.8.8.8",),
        hosts_entries=parse_hosts_entries(["10.0.0.1=a", "10.0.0.1=b"]),
    )
    options = stage1_options(run, "host", app_environment={"busybox": (("A", "b"),)})
    doc = json.loads(with_hostname(options, "uuid-1").to_json())
    assert doc["version"] == 1 and doc["net"] == "host"
    assert doc["options"]["hostname"] == "rkt-uuid-1"
    assert doc["options"]["host_network"] is True
    assert doc["options"]["set_env"] == [["K", "V"]]
    assert doc["options"]["hosts_entries"] == [["10.0.0.1", ["a", "b"]]]
    assert doc["app_environment"] == {"busybox": [["A", "b"]]}
    assert "pod_dir" not in doc["options"]
    assert "netns" not in doc
    cni = json.loads(stage1_options(RunOptions(), "default,mynet:K=V").to_json())
    assert cni["net"] == "default,mynet:K=V" and cni["netns"] == "netns"
    assert "host_network" not in cni["options"]  # false: left out, the default
    with pytest.raises(ConfigError, match="cannot be combined"):
        stage1_options(RunOptions(), "host,default")
