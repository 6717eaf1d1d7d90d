"""``rkt run``'s per-app and pod flags, observed from inside real pods.

Each test builds busybox ACIs with a manifest made for it, runs them through the real CLI (a
subprocess with ``--dir``), and checks what the app itself prints (``id``, ``env``, ``pwd``,
``hostname``, /proc/self/mountinfo, /etc/resolv.conf, /etc/hosts, writes that must fail) or
leaves behind on the host. The expected values come from rkt 1.30's
Documentation/subcommands/run.md and the appc spec (ace.md, aci.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.integration import podkit
from tests.integration.podkit import env_of, lines, make_image, run_pod

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root"),
    pytest.mark.skipif(not os.path.exists(podkit.BUSYBOX), reason="needs busybox-static"),
]

ACE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture
def image(base: Path, tmp_path: Path) -> Any:
    def make(name: str, app: dict[str, Any], **kwargs: Any) -> str:
        return str(make_image(base, tmp_path, name, app, **kwargs))

    return make


def sh(script: str, **app: Any) -> dict[str, Any]:
    return {"exec": ["/bin/sh", "-c", script], **app}


def ok(done: Any) -> str:
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return str(done.stdout)


def tagged(stdout: str, tag: str) -> list[str]:
    """Lines an app printed as ``TAG:value`` (apps of one pod share stdout)."""
    return [line[len(tag) + 1 :] for line in stdout.splitlines() if line.startswith(tag + ":")]


# --- user and group ---------------------------------------------------------------------------


def test_user_and_group_by_name_from_image_files(data: Path, image: Any) -> None:
    aci = image("byname", sh("echo $(id -u) $(id -g) $(id -un) $(id -gn)", user="app",
                             group="extra"))  # fmt: skip
    assert lines(ok(run_pod(data, aci))) == ["1000 2000 app extra"]


def test_user_and_group_overridden_by_number(data: Path, image: Any) -> None:
    aci = image("bynum", sh("echo $(id -u) $(id -g) $(id -G)", user="app", group="app"))
    out = ok(run_pod(data, aci, "--user=1234", "--group=4321"))
    assert lines(out) == ["1234 4321 4321"]


def test_user_and_group_by_path_owner(data: Path, image: Any) -> None:
    def owned(root: Path) -> None:
        (root / "owned-u").write_text("")
        os.chown(root / "owned-u", 1500, 0)
        (root / "owned-g").write_text("")
        os.chown(root / "owned-g", 0, 2500)

    aci = image("bypath", sh("echo $(id -u) $(id -g)"), customize=owned)
    out = ok(run_pod(data, aci, "--user=/owned-u", "--group=/owned-g"))
    assert lines(out) == ["1500 2500"]  # the owner of one, the group of the other


def test_unknown_user_name_is_an_error(data: Path, image: Any) -> None:
    aci = image("nouser", sh("echo RAN"))
    done = run_pod(data, aci, "--user=nosuchuser")
    assert done.returncode != 0
    assert "RAN" not in done.stdout
    assert "nosuchuser" in done.stderr


def test_supplementary_gids(data: Path, image: Any) -> None:
    aci = image("supp", sh("exit 99", user="app", group="app"))
    out = ok(run_pod(data, aci, "--name=with", "--exec=/bin/sh", "--",
                     "-c", "echo with:$(id -G); grep '^Groups:' /proc/self/status", "---",
                     "--supplementary-gids=2000,3000",
                     aci, "--name=without", "--exec=/bin/sh", "--",
                     "-c", "echo without:$(id -G)", "---"))  # fmt: skip
    assert tagged(out, "with")[0].split() == ["1000", "2000", "3000"]
    groups = [line for line in lines(out) if line.startswith("Groups:")]
    assert groups and set(groups[0].split()[1:]) == {"2000", "3000"}
    # No flag: only the primary group; root's own groups must not leak into the app.
    assert tagged(out, "without") == ["1000"]


# --- environment ------------------------------------------------------------------------------


def test_environment_precedence(data: Path, image: Any, tmp_path: Path) -> None:
    aci = image("envprec", {"exec": ["/bin/env"], "environment": [
        {"name": n, "value": "image"} for n in ("A", "B", "C", "D")
    ]})  # fmt: skip
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\n\nB=file\nC=file\nD=file\nE=x=y\nCOMMENTED=no # not\n")
    parent = {**os.environ, "A": "parent", "P_ONLY": "parent", "B": "parent"}
    done = run_pod(data, "--inherit-env", f"--set-env-file={env_file}", "--set-env=C=set",
                   "--set-env=D=set", aci, "--environment=D=app", env=parent)  # fmt: skip
    env = env_of(lines(ok(done)))
    assert {k: env.get(k) for k in ("P_ONLY", "A", "B", "C", "D", "E")} == {
        "P_ONLY": "parent",  # parent < image < file < set-env < --environment
        "A": "image",
        "B": "file",
        "C": "set",
        "D": "app",
        "E": "x=y",
    }
    assert env["COMMENTED"] == "no # not"  # only whole lines are comments
    assert not any(k.startswith("#") for k in env)


def test_set_env_file_semicolon_comment(data: Path, image: Any, tmp_path: Path) -> None:
    aci = image("envsemi", {"exec": ["/bin/env"]})
    env_file = tmp_path / "env"
    env_file.write_text("; a comment\nFROM_FILE=yes\n")
    env = env_of(lines(ok(run_pod(data, f"--set-env-file={env_file}", aci))))
    assert env.get("FROM_FILE") == "yes"
    assert not any(k.startswith(";") for k in env)


def test_environment_defaults_without_inherit_env(data: Path, image: Any) -> None:
    aci = image("envdef", {"exec": ["/bin/env"]})
    parent = {**os.environ, "LEAK_FROM_PARENT": "1"}
    env = env_of(lines(ok(run_pod(data, aci, "--name=renamed", env=parent))))
    assert "LEAK_FROM_PARENT" not in env
    assert {k: env.get(k) for k in ("PATH", "AC_APP_NAME", "HOME", "USER", "LOGNAME", "SHELL")} == {
        "PATH": ACE_PATH,
        "AC_APP_NAME": "renamed",
        "HOME": "/root",
        "USER": "root",
        "LOGNAME": "root",
        "SHELL": "/bin/sh",
    }
    assert env.get("container")  # ace.md: MUST be set, free-form


# --- working directory ------------------------------------------------------------------------


def test_working_dir_override_and_default(data: Path, image: Any) -> None:
    aci = image("wd", sh("echo $AC_APP_NAME:$(pwd)"))
    preset = image("wdimg", sh("echo $AC_APP_NAME:$(pwd)", workingDirectory="/tmp"))
    out = ok(run_pod(data, aci, "--name=flag", "--working-dir=/home/app",
                     aci, "--name=default", preset, "--name=image"))  # fmt: skip
    assert tagged(out, "flag") == ["/home/app"]
    assert tagged(out, "default") == ["/"]  # ace.md: the root of the image by default
    assert tagged(out, "image") == ["/tmp"]


def test_missing_working_dir_is_an_error(data: Path, image: Any) -> None:
    aci = image("wdmissing", sh("echo RAN"))
    done = run_pod(data, aci, "--working-dir=/does/not/exist")
    assert done.returncode != 0
    assert "RAN" not in done.stdout
    assert "/does/not/exist" in done.stderr


# --- exec and arguments -----------------------------------------------------------------------


def test_exec_override_and_arguments(data: Path, image: Any) -> None:
    aci = image("execargs", {"exec": ["/bin/echo", "image-arg"]})
    out = ok(run_pod(data,
                     aci, "--name=plain",
                     aci, "--name=args", "--", "args:x", "y z", "---",
                     aci, "--name=exec", "--exec=/bin/sh", "--",
                     "-c", 'printf "exec:"; printf "[%s]" "$@"; echo', "sh", "p q", "r", "---",
                     aci, "--name=execonly", "--exec=/bin/echo"))  # fmt: skip
    out_lines = lines(out)
    assert "image-arg" in out_lines  # the image's exec as it is
    assert "image-arg args:x y z" in out_lines  # -- args --- are appended to it
    assert "exec:[p q][r]" in out_lines  # --exec replaces exec *and* its args; words kept whole
    assert out_lines.count("") == 0 and len(out_lines) == 3  # --exec=/bin/echo alone: empty


def test_exec_resolved_along_path(data: Path, image: Any) -> None:
    def script(root: Path) -> None:
        (root / "opt/bin").mkdir(parents=True)
        (root / "opt/bin/hello").write_text('#!/bin/sh\necho "hello:$1"\n')
        (root / "opt/bin/hello").chmod(0o755)

    custom = image("pathexec", {"exec": ["hello", "arg"], "environment": [
        {"name": "PATH", "value": "/opt/bin:/bin"}]}, customize=script)  # fmt: skip
    default = image("pathdef", {"exec": ["id", "-un"], "user": "app"})
    out = ok(run_pod(data, custom, default))
    assert sorted(lines(out)) == ["app", "hello:arg"]


# --- volumes ----------------------------------------------------------------------------------


def wait_for(path: str, tries: int = 200) -> str:
    """Shell that polls for ``path`` (bounded: ~10 s), exiting 9 if it never appears."""
    return (
        f"i=0; until [ -e {path} ]; do i=$((i+1)); [ $i -gt {tries} ] && exit 9; sleep 0.05; done"
    )


def test_two_apps_share_an_empty_volume(data: Path, image: Any) -> None:
    writer = image("writer", sh("echo payload > /data/.msg && mv /data/.msg /data/msg"))
    reader = image("reader", sh(wait_for("/data/msg") + "; echo reader:$(cat /data/msg)"))
    out = ok(run_pod(data, "--volume=data,kind=empty",
                     writer, "--name=a", "--mount=volume=data,target=/data",
                     reader, "--name=b", "--mount=volume=data,target=/data"))  # fmt: skip
    assert tagged(out, "reader") == ["payload"]


def test_empty_volume_mode_uid_gid(data: Path, image: Any) -> None:
    aci = image("emptymode", sh("ls -ldn /data; ls -A /data | wc -l"))
    out = ok(run_pod(data, "--volume=data,kind=empty,mode=0770,uid=1000,gid=2000",
                     aci, "--mount", "volume=data,target=/data"))  # fmt: skip
    listing = lines(out)
    fields = listing[0].split()
    assert (fields[0][:10], fields[2], fields[3]) == ("drwxrwx---", "1000", "2000")
    assert listing[1].strip() == "0"


def test_host_volumes_read_write_and_read_only(data: Path, image: Any, tmp_path: Path) -> None:
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "in").write_text("from-host\n")
    aci = image("hostvol", sh(
        "echo in:$(cat /ro/in); echo written > /rw/out;"
        " if touch /ro/x 2>/dev/null; then echo ro:writable; else echo ro:refused; fi;"
        " grep ' /ro ' /proc/self/mountinfo | sed 's/^/info:/'"
    ))  # fmt: skip
    out = ok(run_pod(data, f"--volume=rw,kind=host,source={rw}",
                     f"--volume=ro,kind=host,source={ro},readOnly=true",
                     aci, "--mount=volume=rw,target=/rw",
                     "--mount=volume=ro,target=/ro"))  # fmt: skip
    assert tagged(out, "in") == ["from-host"]
    assert (rw / "out").read_text() == "written\n"  # seen on the host
    assert tagged(out, "ro") == ["refused"]
    assert not (ro / "x").exists()
    info = tagged(out, "info")
    assert len(info) == 1 and "ro" in info[0].split()[5].split(",")


def test_mount_point_read_only_in_manifest(data: Path, image: Any, tmp_path: Path) -> None:
    src = tmp_path / "conf"
    src.mkdir()
    aci = image("mpro", sh(
        "if touch /conf/x 2>/dev/null; then echo conf:writable; else echo conf:refused; fi",
        mountPoints=[{"name": "conf", "path": "/conf", "readOnly": True}],
    ))  # fmt: skip
    out = ok(run_pod(data, f"--volume=conf,kind=host,source={src}", aci))
    assert tagged(out, "conf") == ["refused"]
    assert list(src.iterdir()) == []


def test_implicit_empty_volume_for_unmatched_mount_point(data: Path, image: Any) -> None:
    def prefill(root: Path) -> None:
        (root / "var/cache").mkdir(parents=True)
        (root / "var/cache/from-image").write_text("x")

    aci = image("implicit", sh(
        "echo n:$(ls -A /var/cache | wc -l); echo w > /var/cache/new && echo w:ok;"
        " grep ' /var/cache ' /proc/self/mountinfo | sed 's/^/info:/'",
        mountPoints=[{"name": "cache", "path": "/var/cache"}],
    ), customize=prefill)  # fmt: skip
    out = ok(run_pod(data, aci))
    assert tagged(out, "n") == ["0"]  # a fresh volume obscures the image's directory
    assert tagged(out, "w") == ["ok"]
    assert len(tagged(out, "info")) == 1  # a mount of its own


def test_readonly_rootfs(data: Path, image: Any) -> None:
    script = (
        "if touch /x 2>/dev/null; then echo root:writable; else echo root:refused; fi;"
        " if touch /tmp/x 2>/dev/null; then echo tmp:writable; else echo tmp:refused; fi;"
        " grep ' / / ' /proc/self/mountinfo | sed 's/^/info:/'"
    )
    aci = image("rorootfs", sh(script))
    out = ok(run_pod(data, aci, "--name=ro", "--readonly-rootfs=true"))
    assert tagged(out, "root") == ["refused"]
    assert tagged(out, "tmp") == ["writable"]
    info = tagged(out, "info")
    assert len(info) == 1 and "ro" in info[0].split()[5].split(",")
    out = ok(run_pod(data, aci, "--name=rw"))  # and without the flag, / is writable
    assert tagged(out, "root") == ["writable"]


# --- hostname, DNS, hosts ---------------------------------------------------------------------


def test_hostname_default_and_flag(data: Path, image: Any, tmp_path: Path) -> None:
    aci = image("host", sh("echo h:$(hostname)"))
    uuid_file = tmp_path / "uuid"
    out = ok(run_pod(data, f"--uuid-file-save={uuid_file}", aci))
    assert tagged(out, "h") == [f"rkt-{uuid_file.read_text().strip()}"]
    out = ok(run_pod(data, "--hostname=custom-host", aci))
    assert tagged(out, "h") == ["custom-host"]


def test_dns_and_hosts_entries(data: Path, image: Any) -> None:
    aci = image("dns", sh("echo == resolv ==; cat /etc/resolv.conf; echo == hosts ==;"
                          " cat /etc/hosts"))  # fmt: skip
    out = ok(run_pod(data, "--dns=203.0.113.53", "--dns=2001:db8::1",
                     "--dns-search=a.example", "--dns-search=b.example",
                     "--dns-opt=ndots:2", "--dns-opt=timeout:1", "--dns-domain=example.org",
                     "--hosts-entry=198.51.100.7=db", "--hosts-entry=198.51.100.8=cache",
                     "--hosts-entry=198.51.100.7=db2",
                     "--hostname=dnspod", aci))  # fmt: skip
    resolv = [line for line in podkit.section(out, "resolv") if not line.startswith("#")]
    assert resolv == [
        "nameserver 203.0.113.53",
        "nameserver 2001:db8::1",
        "search a.example b.example",
        "options ndots:2 timeout:1",
        "domain example.org",
    ]
    hosts = [line.split() for line in podkit.section(out, "hosts")]
    assert ["198.51.100.7", "db", "db2"] in hosts  # names of one address gathered
    assert ["198.51.100.8", "cache"] in hosts
    assert any(h[0] == "127.0.0.1" and "localhost" in h[1:] for h in hosts)


# --- exit status ------------------------------------------------------------------------------


def test_exit_status_of_a_single_app(data: Path, image: Any) -> None:
    done = run_pod(data, image("exit1", sh("echo bye; exit 7")))
    assert (done.returncode, lines(done.stdout)) == (7, ["bye"])


def test_exit_status_of_two_apps_is_the_first_non_zero(data: Path, image: Any) -> None:
    aci = image("exit2", sh("exit 0"))
    first = "echo a:done; exit 3"
    later = "sleep 0.5; echo b:done; exit 5"
    done = run_pod(data, aci, "--name=a", "--exec=/bin/sh", "--", "-c", first, "---",
                   aci, "--name=b", "--exec=/bin/sh", "--", "-c", later, "---")  # fmt: skip
    assert done.returncode == 3, (done.stdout, done.stderr)
    done = run_pod(data, aci, "--name=a", "--exec=/bin/sh", "--", "-c", "exit 0", "---",
                   aci, "--name=b", "--exec=/bin/sh", "--", "-c", later, "---")  # fmt: skip
    assert done.returncode == 5, (done.stdout, done.stderr)
    assert "b:done" in done.stdout
