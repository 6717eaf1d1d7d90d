"""Value types of rkt's flags that several commands share: rkt's absDir, OptionList and
outputFormat. Standard library only, for the commands' help pages."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from rkt.cli.flags import go_quote

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet


def abs_dir(text: str) -> str:
    """rkt's absDir: refuse an empty path (a store in the current directory by mistake),
    make the others absolute."""
    if text == "":
        raise ValueError('"" is not a valid directory')
    return os.path.abspath(text)


def option_list(allowed: tuple[str, ...]) -> Callable[[str], str]:
    """rkt's OptionList: comma-separated, case-insensitive, each word allowed and given once."""

    def check(text: str) -> str:
        seen: list[str] = []
        for word in text.lower().split(",") if text else []:
            if word not in allowed:
                raise ValueError(f"unknown option {go_quote(word)}")
            if word in seen:
                raise ValueError(f"duplicated option {go_quote(word)}")
            seen.append(word)
        return ",".join(seen)

    return check


FORMATS = ("", "json", "json-pretty")


def _format(text: str) -> str:
    if text not in FORMATS:
        raise ValueError(f"Invalid format option: {text}")
    return text


def add_format_flag(flags: FlagSet) -> None:
    """rkt's outputFormat flag: "" (a table or key=value lines), json or json-pretty."""
    from rkt.cli.flags import Flag

    flags.add(Flag("format", "the output format: 'json' or 'json-pretty'; empty for text", "",
                   type_name="outputFormat", check=_format, choices=FORMATS[1:]))  # fmt: skip
