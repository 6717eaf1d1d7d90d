"""The image arguments of ``rkt prepare``/``rkt run`` and the per-app flags that follow them.

As in rkt's parseApps (rkt/cli_apps.go), a per-app flag applies to the image before it;
``--`` starts that image's arguments and ``---`` ends them (anything goes in between). Pod-level
flags may also stand between images (rkt parses them with the same flag set); they are handed
back untouched so that the caller's argparse parser reads them with their usual meaning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from appc.errors import ValidationError
from appc.schema.isolator import Isolator, parse_isolator
from appc.schema.linux import (
    CAPABILITIES_REMOVE_SET,
    CAPABILITIES_RETAIN_SET,
    CPU_SHARES,
    OOM_SCORE_ADJ,
    SECCOMP_REMOVE_SET,
    SECCOMP_RETAIN_SET,
)
from appc.schema.name import ac_name
from appc.schema.pod import Mount
from appc.schema.resource import CPU, MEMORY, Resource
from rkt.errors import ConfigError
from rkt.linux import capability
from rkt.stage0.app_flags import APP_FLAGS, STREAM_ANNOTATIONS, STREAM_MODES

_ALIASES = {"--cap-retain": "--caps-retain", "--cap-remove": "--caps-remove"}

#: The isolator flags → the isolator names a flag's isolator replaces in the image's app
#: (rkt's prepareIsolators: a capability or seccomp flag replaces both sets of its kind).
ISOLATOR_FLAGS: Mapping[str, tuple[str, ...]] = {
    "--memory": (MEMORY,),
    "--cpu": (CPU,),
    "--cpu-shares": (CPU_SHARES,),
    "--oom-score-adj": (OOM_SCORE_ADJ,),
    "--caps-retain": (CAPABILITIES_RETAIN_SET, CAPABILITIES_REMOVE_SET),
    "--caps-remove": (CAPABILITIES_RETAIN_SET, CAPABILITIES_REMOVE_SET),
    "--seccomp": (SECCOMP_RETAIN_SET, SECCOMP_REMOVE_SET),
}
#: rkt's --memory refuses less than 4 KiB (most likely ``16m``, milli-bytes, for ``16M``).
MIN_MEMORY = 4096

#: strconv.ParseBool's spellings.
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})


class AppArgs(msgspec.Struct):
    """One image argument and the overrides given after it (``None``: not given)."""

    image: str
    signature: str | None = None
    exec: str | None = None
    args: list[str] | None = None
    name: str | None = None
    user: str | None = None
    group: str | None = None
    supplementary_gids: tuple[int, ...] | None = None
    working_dir: str | None = None
    readonly_rootfs: bool = False
    environment: dict[str, str] = msgspec.field(default_factory=dict)
    mounts: list[Mount] = msgspec.field(default_factory=list)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    user_annotations: dict[str, str] | None = None
    user_labels: dict[str, str] | None = None
    #: isolators from --memory, --cpu, ..., by flag (a later one of a flag wins, as in rkt)
    isolators: dict[str, Isolator] = msgspec.field(default_factory=dict)


class AppList(msgspec.Struct):
    apps: list[AppArgs] = msgspec.field(default_factory=list)
    #: pod-level flag words found among the images, in order, for the caller to parse
    pod_words: list[str] = msgspec.field(default_factory=list)
    #: deprecated spellings used (rkt's --cap-retain, --cap-remove), for the caller to warn
    deprecated: list[str] = msgspec.field(default_factory=list)


def parse_apps(words: Sequence[str], pod_flags: Mapping[str, bool]) -> AppList:
    """Split ``words`` (everything from the first image on) into apps and pod-level flags.

    ``pod_flags`` maps the command's own flags to whether they take a value, so that a value
    given as the next word is not mistaken for an image.
    """
    result = AppList()
    in_args = False
    last_args_for: AppArgs | None = None
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if in_args:
            if word == "---":
                in_args = False
            else:
                result.apps[-1].args = [*(result.apps[-1].args or []), word]
            continue
        if not word or word == "---":
            continue  # rkt ignores a stray "---" outside arguments; so do we
        if word == "--":
            if not result.apps:
                raise ConfigError("an image is required before any app arguments")
            if last_args_for is result.apps[-1]:
                raise ConfigError("only one set of app arguments allowed per image")
            last_args_for = result.apps[-1]
            result.apps[-1].args = result.apps[-1].args or []
            in_args = True
            continue
        if not word.startswith("-") or word == "-":
            result.apps.append(AppArgs(image=word))
            continue
        name, has_value, value = word.partition("=")
        if name in APP_FLAGS:
            if APP_FLAGS[name] and not has_value:
                if index == len(words):
                    raise ConfigError(f"flag needs an argument: {name}")
                value, index = words[index], index + 1
            if not result.apps:
                raise ConfigError(f"{name} must follow an image")
            if name in _ALIASES:
                result.deprecated.append(name)
                name = _ALIASES[name]
            _apply(result.apps[-1], name, value if has_value or APP_FLAGS[name] else "true")
        elif name in pod_flags:
            result.pod_words.append(word)
            if pod_flags[name] and not has_value:
                if index == len(words):
                    raise ConfigError(f"flag needs an argument: {name}")
                result.pod_words.append(words[index])
                index += 1
        else:
            raise ConfigError(f"unknown flag: {name}")
    for app in result.apps:
        if "--caps-retain" in app.isolators and "--caps-remove" in app.isolators:
            raise ConfigError(
                f"cannot use both --caps-retain and --caps-remove on the same image ({app.image})"
            )
        if app.exec is not None and not app.exec.startswith("/"):
            # appc requires an absolute exec path; catch it before the pod exists.
            raise ConfigError(f'--exec "{app.exec}" for {app.image} must be an absolute path')
    return result


def parse_mount(text: str) -> Mount:
    """``volume=NAME,target=PATH`` (rkt's appMount, which reads it as a query string)."""
    fields: dict[str, str] = {}
    for part in filter(None, text.split(",")):
        key, eq, value = part.partition("=")
        if not eq:
            raise ConfigError(f'invalid --mount "{text}"', hint="volume=NAME,target=PATH")
        if key in fields:
            raise ConfigError(f'--mount "{text}" gives {key} twice')
        if key not in ("volume", "target"):
            raise ConfigError(f'unknown mount parameter "{key}"')
        fields[key] = value
    if "volume" not in fields or not fields.get("target"):
        raise ConfigError(f'invalid --mount "{text}"', hint="volume=NAME,target=PATH")
    try:
        volume = ac_name(fields["volume"], "volume")
    except ValueError as err:
        raise ConfigError(f'invalid volume name in --mount "{text}": {err}') from err
    return Mount(volume=volume, path=fields["target"])


def parse_pair(flag: str, text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise ConfigError(f'{flag} "{text}" is not in the form key=value')
    return key, value


def _bool(flag: str, text: str) -> bool:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f'invalid boolean "{text}" for {flag}')


def _integer(flag: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError as err:
        raise ConfigError(f'invalid {flag} "{text}": expected an integer') from err


def _capability_set(flag: str, text: str) -> dict[str, object]:
    names = []
    for word in text.split(","):
        try:
            names.append(capability.name_of(capability.parse(word)))
        except ValueError as err:
            raise ConfigError(
                f'invalid {flag} "{text}": unknown capability "{word}"',
                hint="names look like CAP_NET_ADMIN (see capabilities(7))",
            ) from err
    return {"set": names}


def parse_seccomp(text: str) -> tuple[str, dict[str, object]]:
    """``--seccomp mode=retain|remove[,errno=NAME],syscall,...`` (rkt's SeccompOverride): the
    isolator's name and value. Words with ``=`` are options, the others syscalls or groups."""
    mode, errno, syscalls = "", "", []
    for word in text.split(","):
        key, eq, value = word.partition("=")
        if not eq:
            if word:
                syscalls.append(word)
        elif key == "mode":
            mode = value
        elif key == "errno":
            errno = value
        else:
            raise ConfigError(
                f'invalid --seccomp "{text}": unknown option "{key}"',
                hint="mode=retain|remove[,errno=NAME],syscall,...",
            )
    if mode not in ("retain", "remove"):
        raise ConfigError(
            f'invalid --seccomp "{text}": mode must be retain or remove',
            hint="mode=retain|remove[,errno=NAME],syscall,...",
        )
    document: dict[str, object] = {"set": syscalls}
    if errno:
        document["errno"] = errno
    return (SECCOMP_RETAIN_SET if mode == "retain" else SECCOMP_REMOVE_SET), document


def isolator_for(flag: str, text: str) -> Isolator:
    """The isolator an isolator flag stands for, read (and so checked) by appc.schema."""
    value: object
    if flag in ("--memory", "--cpu"):
        # rkt: NewResourceMemoryIsolator(s, s) / NewResourceCPUIsolator(s, s).
        name, value = (MEMORY if flag == "--memory" else CPU), {"request": text, "limit": text}
    elif flag == "--cpu-shares":
        name, value = CPU_SHARES, _integer(flag, text)
    elif flag == "--oom-score-adj":
        name, value = OOM_SCORE_ADJ, _integer(flag, text)
    elif flag in ("--caps-retain", "--caps-remove"):
        retain = flag == "--caps-retain"
        name = CAPABILITIES_RETAIN_SET if retain else CAPABILITIES_REMOVE_SET
        value = _capability_set(flag, text)
    elif flag == "--seccomp":
        name, value = parse_seccomp(text)
    else:
        raise ConfigError(f"{flag} is not an isolator flag")
    try:
        isolator = parse_isolator({"name": name, "value": value}, flag)
    except ValidationError as err:
        raise ConfigError(f'invalid {flag} "{text}": {err}') from err
    if flag == "--memory" and isinstance(isolator.value, Resource):
        limit = isolator.value.limit
        if limit is not None and limit.value() < MIN_MEMORY:
            raise ConfigError(
                f'invalid --memory "{text}": {limit.value()} bytes is too low',
                hint="try a reasonable value, such as --memory=16M",
            )
    if flag == "--cpu" and isinstance(isolator.value, Resource):
        limit = isolator.value.limit
        if limit is not None and limit.milli_value() <= 0:
            raise ConfigError(
                f'invalid --cpu "{text}": expected a positive amount of CPU',
                hint="in cores or millicores, such as --cpu=500m",
            )
    return isolator


def _apply(app: AppArgs, flag: str, value: str) -> None:
    def once(current: object) -> None:
        if current is not None:
            raise ConfigError(f"{flag} specified multiple times for the same image")

    if flag == "--signature":
        once(app.signature)
        app.signature = value
    elif flag == "--exec":
        once(app.exec)
        app.exec = value
    elif flag == "--name":
        try:
            app.name = ac_name(value, "name")
        except ValueError as err:
            raise ConfigError(f'invalid app name "{value}": {err}') from err
    elif flag == "--user":
        app.user = value
    elif flag == "--group":
        app.group = value
    elif flag == "--supplementary-gids":
        try:
            app.supplementary_gids = tuple(int(g) for g in value.split(",") if g)
        except ValueError as err:
            raise ConfigError(f'invalid --supplementary-gids "{value}"') from err
    elif flag == "--working-dir":
        app.working_dir = value
    elif flag == "--readonly-rootfs":
        app.readonly_rootfs = _bool(flag, value)
    elif flag == "--environment":
        key, val = parse_pair(flag, value)
        app.environment[key] = val
    elif flag == "--mount":
        app.mounts.append(parse_mount(value))
    elif flag == "--annotation":
        key, val = parse_pair(flag, value)
        app.annotations[key] = val
    elif flag in STREAM_ANNOTATIONS:
        if value not in STREAM_MODES or (flag == "--stdin" and value == "log"):
            modes = [m for m in STREAM_MODES if flag != "--stdin" or m != "log"]
            raise ConfigError(f'{flag}="{value}": expected one of {", ".join(modes)}')
        app.annotations[STREAM_ANNOTATIONS[flag]] = value
    elif flag == "--user-annotation":
        key, val = parse_pair(flag, value)
        app.user_annotations = {**(app.user_annotations or {}), key: val}
    elif flag == "--user-label":
        key, val = parse_pair(flag, value)
        app.user_labels = {**(app.user_labels or {}), key: val}
    elif flag in ISOLATOR_FLAGS:
        app.isolators[flag] = isolator_for(flag, value)
