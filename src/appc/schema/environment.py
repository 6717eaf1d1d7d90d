"""An app's environment variables (aci.md)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from msgspec import Struct

from appc.errors import ValidationError
from appc.schema.field import describe, items, join, name_value, string

# aci.md: letters, digits and underscores as POSIX names (which cannot start with a digit),
# plus "." and "-" for practical reasons.
_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9.-]*")


class EnvironmentVariable(Struct, frozen=True):
    name: str
    value: str


def check_env_name(name: str, path: str = "") -> str:
    if not _NAME.fullmatch(name):
        raise ValidationError(
            f"{describe(name)} is not a valid environment variable name: expected letters, "
            'digits, "_", "." and "-", not starting with a digit',
            path,
        )
    return name


def check_environment(variables: Iterable[EnvironmentVariable], path: str = "") -> None:
    seen: set[str] = set()
    for index, variable in enumerate(variables):
        where = join(path, index)
        check_env_name(variable.name, join(where, "name"))
        if variable.name in seen:
            raise ValidationError(
                f'duplicate environment variable "{variable.name}": names must be unique', where
            )
        seen.add(variable.name)


def _variable(value: object, path: str) -> EnvironmentVariable:
    return EnvironmentVariable(*name_value(value, path, string))


def parse_environment(value: object, path: str) -> tuple[EnvironmentVariable, ...]:
    variables = items(value, path, _variable)
    check_environment(variables, path)
    return variables


def environment_to_json(variables: Iterable[EnvironmentVariable]) -> list[dict[str, str]]:
    return [{"name": v.name, "value": v.value} for v in variables]
