"""Entry point of ``actool``: global flags, lazy sub-command dispatch and error rendering."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from appc import SPEC_VERSION
from appc.errors import AppcError

PROG = "actool"

#: sub-command name → (module under appc.actool, one-line summary); the reference's set,
#: plus image-id.
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("build", "Build an ACI from an Image Layout"),
    "cat-manifest": ("cat_manifest", "Print the manifest from an ACI"),
    "discover": ("discover", "Discover the download URLs for one or more app container images"),
    "help": ("", "Show a list of commands or help for one command"),
    "image-id": ("image_id", "Print the image ID of one or more ACIs"),
    "patch-manifest": ("patch_manifest", "Copy an ACI and patch its manifest"),
    "validate": (
        "validate",
        "Validate that one or more images or manifests meet the AppContainer specification",
    ),
    "version": ("", "Print the version and exit"),
}


def _usage() -> str:
    lines = [
        "NAME:",
        f"\t{PROG} - {PROG}, the application container tool",
        "",
        "USAGE:",
        f"\t{PROG} [global options] <command> [command options] [arguments...]",
        "",
        "VERSION:",
        f"\t{SPEC_VERSION}",
        "",
        "COMMANDS:",
        *(f"\t{name:<16}{summary}" for name, (_, summary) in COMMANDS.items()),
        "",
        "GLOBAL OPTIONS:",
        "\t--debug=false\tPrint verbose (debug) output",
        "\t--help=false\tPrint usage information and exit",
        "",
        f'Run "{PROG} help <command>" for more details on a specific command.',
    ]
    return "\n".join(lines)


def _command_parser(name: str) -> tuple[argparse.ArgumentParser, ModuleType]:
    module = importlib.import_module(f"appc.actool.{COMMANDS[name][0]}")
    parser = argparse.ArgumentParser(
        prog=f"{PROG} {name}", description=COMMANDS[name][1], allow_abbrev=False
    )
    module.add_arguments(parser)
    return parser, module


def _normalize_flags(parser: argparse.ArgumentParser, args: Sequence[str]) -> list[str]:
    """Accept Go's flag spellings, which scripts written for the reference use:
    ``-flag`` for ``--flag`` and ``--bool-flag=true|false``."""
    options = {opt: action for action in parser._actions for opt in action.option_strings}
    result: list[str] = []
    for arg in args:
        if arg == "--":
            result.extend(args[len(result) :])
            break
        is_go_long = arg.startswith("-") and not arg.startswith("--") and len(arg) > 2
        if is_go_long and "--" + arg[1:].split("=", 1)[0] in options:
            arg = "-" + arg
        name, sep, value = arg.partition("=")
        action = options.get(name)
        if sep and isinstance(action, argparse._StoreTrueAction):
            lowered = value.lower()
            if lowered in ("true", "1", "t"):
                arg = name
            elif lowered in ("false", "0", "f"):
                continue
        result.append(arg)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = False
    while args and args[0] in ("--debug", "-debug", "--debug=true", "--help", "-help", "-h"):
        if "debug" in args.pop(0):
            debug = True
        else:
            args = ["help"]
    if not args:
        args = ["help"]
    name, rest = args[0], args[1:]
    if name == "version":
        print(f"{PROG} version {SPEC_VERSION}")
        return 0
    if name == "help":
        if rest and rest[0] in COMMANDS and COMMANDS[rest[0]][0]:
            _command_parser(rest[0])[0].print_help()
            return 0
        if rest and rest[0] not in COMMANDS:
            print(f"Unrecognized command: {rest[0]}", file=sys.stderr)
            return 1
        print(_usage())
        return 0
    if name not in COMMANDS:
        print(f"{PROG}: unknown subcommand: {name!r}", file=sys.stderr)
        print(f"Run '{PROG} help' for usage.", file=sys.stderr)
        return 2
    parser, module = _command_parser(name)
    options = parser.parse_args(_normalize_flags(parser, rest))
    options.debug = debug
    try:
        code: int = module.run(options)
    except AppcError as err:
        _report(err, debug)
        return 1
    except OSError as err:
        # An OSError that reached here was not expected by the sub-command; it still names
        # the file, so print it as one line instead of a traceback.
        _report(err, debug)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def _report(err: BaseException, debug: bool) -> None:
    print(f"{PROG}: {err}", file=sys.stderr)
    if debug:
        import traceback

        traceback.print_exception(err, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
