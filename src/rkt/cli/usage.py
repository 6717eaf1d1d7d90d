"""Help pages in rkt's layout (rkt/help.go's template): NAME, USAGE, VERSION (rkt itself),
COMMANDS, DESCRIPTION, OPTIONS and GLOBAL OPTIONS, aligned by Go's tabwriter.

Each flag is one line, ``--name=DEFAULT`` (``--name[=DEFAULT]`` when the value is optional, the
default quoted for string flags), then its help; hidden and deprecated flags are left out.
"""

from __future__ import annotations

from collections.abc import Iterable

from rkt.cli.commands import COMMANDS, RKT_VERSION, Command, Entry
from rkt.cli.flags import Flag, ListFlag, go_quote
from rkt.cli.tabwriter import tabwrite


def flag_line(flag: Flag) -> str:
    head = f"  -{flag.shorthand}, --{flag.name}" if flag.shorthand else f"      --{flag.name}"
    value = go_quote(flag.default_text) if flag.type_name == "string" else flag.default_text
    value = f"[={value}]" if flag.no_opt else f"={value}"
    usage = flag.usage + (" (repeatable)" if isinstance(flag, ListFlag) and not flag.join else "")
    return f"{head}{value}\t{usage}\n"


def flag_lines(flags: Iterable[Flag]) -> str:
    return "".join(flag_line(f) for f in flags)


def subcommands(path: tuple[str, ...]) -> list[Entry]:
    """The visible commands below ``path``, each followed by its own (rkt's getSubCommands)."""
    result = []
    for candidate in COMMANDS:
        if candidate.path[:-1] != path or candidate.hidden:
            continue
        result.append(candidate)
        result.extend(subcommands(candidate.path))
    return result


def help_text(command: Command, version: str) -> str:
    """The help page of ``command``; ``version`` is shown on the root's page."""
    path = command.path
    out = ["NAME:\n"]
    name = " ".join(path) if path else "rkt"
    out.append(f"\t{name} - {command.entry.short}\n")
    out.append(f"\nUSAGE:\n\t{command.use_line}\n")
    if not path:
        out.append(f"\nVERSION:\n\t{version}\n")
    below = subcommands(path)
    if below:
        out.append("\nCOMMANDS:\n")
        for sub in below:
            if sub.runnable or sub.path == ("help",):
                out.append(f"\t{' '.join(sub.path[len(path) :])}\t{sub.short}\n")
    description = command.description.strip("\n\t ")
    if description:
        out.append("\nDESCRIPTION:\n")
        out.extend(f"\t{line}\n" for line in description.split("\n"))
    local = flag_lines(command.flags.visible(persistent=False))
    if local:
        out.append("\nOPTIONS:\n" + local)
    inherited = flag_lines(command.flags.visible(persistent=True))
    if inherited:
        out.append("\nGLOBAL OPTIONS:\n" + inherited)
    out.append("\n")
    return tabwrite("".join(out))


def rkt_version_line() -> str:
    from rkt import __version__

    return f"{RKT_VERSION} (Rocket {__version__})"
