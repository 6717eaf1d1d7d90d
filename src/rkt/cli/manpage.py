"""Man pages for ``rkt`` and each of its commands, written from the commands' flag sets.

``python -m rkt.cli.manpage DIR`` writes ``rkt.1``, ``rkt-run.1``, ``rkt-image-list.1``, ... to
DIR. The repository keeps them in ``man/`` and the package installs them into
``share/man/man1``; a test regenerates them and compares, so a flag cannot change without
its page. Pages carry no date, so the same sources give the same pages.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rkt.cli.commands import COMMANDS, Command
from rkt.cli.flags import Flag, ListFlag
from rkt.cli.usage import subcommands


def page_name(path: tuple[str, ...]) -> str:
    return "-".join(("rkt", *path))


def _roff(text: str) -> str:
    """Text for a man page: backslashes doubled, dashes as \\-, a leading dot or quote
    escaped."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        ("\\&" + line if line[:1] in (".", "'") else line) for line in text.split("\n")
    )


def _flag_item(flag: Flag) -> str:
    value = flag.default_text
    value_text = f'"{value}"' if flag.type_name == "string" else value
    if flag.no_opt:
        head = f"\\fB\\-\\-{_roff(flag.name)}\\fR[=\\fI{_roff(value_text)}\\fR]"
    else:
        head = f"\\fB\\-\\-{_roff(flag.name)}\\fR=\\fI{_roff(value_text) or flag.metavar}\\fR"
    if flag.shorthand:
        head = f"\\fB\\-{flag.shorthand}\\fR, " + head
    usage = flag.usage
    if isinstance(flag, ListFlag) and not flag.join:
        usage += " (repeatable)"
    if flag.per_app:
        usage += "; for the image it follows"
    return f".TP\n{head}\n{_roff(usage)}\n"


def render(command: Command, version: str) -> str:
    path = command.path
    name = page_name(path)
    out = [
        f'.TH "{name.upper()}" "1" "" "rkt {version}" "rkt"\n',
        ".SH NAME\n",
        f"{_roff(name)} \\- {_roff(command.entry.short)}\n",
        ".SH SYNOPSIS\n",
        f".B {_roff(command.use_line)}\n",
    ]
    if command.description:
        out.append(".SH DESCRIPTION\n")
        for paragraph in command.description.strip().split("\n\n"):
            out.append(".PP\n" + _roff(paragraph.replace("\t", "    ")) + "\n")
    below = [e for e in subcommands(path) if e.runnable]
    if below:
        out.append(".SH COMMANDS\n")
        for entry in below:
            out.append(f".TP\n\\fB{_roff(' '.join(entry.path))}\\fR\n{_roff(entry.short)}\n")
    local = list(command.flags.visible(persistent=False))
    if local:
        out.append(".SH OPTIONS\n")
        out.extend(_flag_item(f) for f in local)
    inherited = list(command.flags.visible(persistent=True))
    if inherited:
        out.append(".SH GLOBAL OPTIONS\n")
        out.extend(_flag_item(f) for f in inherited)
    out.append(".SH EXIT STATUS\n")
    out.append(
        _roff(
            "0 on success; the pod's status for run and run-prepared; 254 for a usage error "
            "or a failure of rkt's own; 2 when no command is given."
        )
        + "\n"
    )
    related = ["rkt"] if path else [page_name(e.path) for e in COMMANDS if len(e.path) == 1]
    if path and len(path) > 1:
        related.append(page_name(path[:1]))
    out.append(".SH SEE ALSO\n")
    out.append(",\n".join(f"\\fB{_roff(r)}\\fR(1)" for r in related if r != name) + "\n")
    return "".join(out)


def pages(version: str) -> dict[str, str]:
    """Every page: file name -> content (the root, the image group, every runnable command)."""
    result = {"rkt.1": render(Command(()), version)}
    for entry in COMMANDS:
        if entry.hidden or entry.path == ("help",):
            continue
        result[page_name(entry.path) + ".1"] = render(Command(entry.path), version)
    return result


def main(argv: list[str]) -> int:
    from rkt.cli.commands import RKT_VERSION

    if len(argv) != 1:
        sys.stderr.write("usage: python -m rkt.cli.manpage DIR\n")
        return 2
    directory = Path(argv[0])
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in pages(RKT_VERSION).items():
        (directory / name).write_text(content, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
