"""An app's final environment.

Precedence, lowest first, as rkt run documents it (Documentation/subcommands/run.md,
"Influencing Environment Variables"): the image's environment (or the pod manifest app's, which
stage0 copied from it), then ``--set-env-file``, then ``--set-env``, then the app's own
``--environment``. A later layer replaces a variable's value in place, so the order of first
appearance is kept and the result is deterministic.

Then, as rkt's stage1 does (prepareApp; the env file written for each app): AC_APP_NAME and,
when a metadata service runs, AC_METADATA_URL are always set (ace.md "Execution Environment"),
and defaults fill only what is still missing. rkt's defaults were fixed strings for root
(USER=root, HOME=/root); here USER, LOGNAME, HOME and SHELL come from the image's passwd entry
for the app's uid, falling back to the uid, "/" and /bin/sh, so a non-root app is not told it
is root.
"""

from __future__ import annotations

from collections.abc import Iterable

from appc.errors import ValidationError
from appc.schema.environment import EnvironmentVariable, check_env_name
from rkt.stage1.planner.plan import PlanError
from rkt.stage1.planner.user import PasswdEntry

#: ace.md "Execution Environment": the PATH every app gets unless its environment sets one.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = "/bin/sh"
#: ace.md asks for "container", naming the executor.
CONTAINER = "rkt"


#: A layer's variable: a manifest's, or a ``[name, value]`` pair of stage1/options.json.
Variable = EnvironmentVariable | tuple[str, str]


def _merge(layers: Iterable[Iterable[Variable]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for layer in layers:
        for variable in layer:
            name, value = (
                (variable.name, variable.value)
                if isinstance(variable, EnvironmentVariable)
                else variable
            )
            try:
                check_env_name(name)
            except ValidationError as err:
                raise PlanError(str(err)) from None
            merged[name] = value
    return merged


def defaults(uid: int, entry: PasswdEntry | None) -> dict[str, str]:
    name = entry.name if entry is not None else str(uid)
    return {
        "PATH": DEFAULT_PATH,
        "HOME": (entry.home if entry is not None and entry.home else "/"),
        "USER": name,
        "LOGNAME": name,
        "SHELL": (entry.shell if entry is not None and entry.shell else DEFAULT_SHELL),
        "container": CONTAINER,
    }


def app_environment(
    app_name: str,
    image_env: Iterable[EnvironmentVariable],
    set_env_file: Iterable[Variable],
    set_env: Iterable[Variable],
    app_env: Iterable[EnvironmentVariable],
    *,
    uid: int,
    entry: PasswdEntry | None,
    metadata_url: str = "",
) -> tuple[tuple[str, str], ...]:
    """The environment as ordered (name, value) pairs: defaults that were missing first (as
    rkt writes them first to the env file), then the merged layers."""
    merged = _merge((image_env, set_env_file, set_env, app_env))
    merged["AC_APP_NAME"] = app_name
    if metadata_url:
        merged["AC_METADATA_URL"] = metadata_url
    missing = [(k, v) for k, v in defaults(uid, entry).items() if k not in merged]
    return (*missing, *merged.items())
