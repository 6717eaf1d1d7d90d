"""Entry point of ``rkt``: global flags, lazy verb dispatch, and rendering of errors.

Verbs live in one module each (``rkt.cli.<verb>``, ``rkt.cli.image_<verb>``) and are imported
only when run, so that ``rkt --help`` and every verb pay for nothing but themselves. Each module
has ``add_arguments(parser)`` and ``run(args, config) -> int``. Library errors
(:class:`rkt.errors.RktError`) become one line on stderr and exit status 254, rkt's status for
its own failures; ``--debug`` adds the cause chain.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rkt.config import Config

#: (verb, sub-verb) → (module, summary). Sub-verb is "" for single-word verbs.
VERBS: dict[tuple[str, str], tuple[str, str]] = {
    ("fetch", ""): ("fetch", "Fetch image(s) and store them in the local store"),
    ("trust", ""): ("trust", "Trust a key for image verification"),
    ("image", "cat-manifest"): ("image_cat_manifest", "Inspect and print the image manifest"),
    ("image", "export"): ("image_export", "Export a stored image to an ACI file"),
    ("image", "fetch"): ("fetch", "Fetch image(s) and store them in the local store"),
    ("image", "extract"): ("image_extract", "Extract a stored image to a directory"),
    ("image", "gc"): ("image_gc", "Garbage collect local store"),
    ("image", "list"): ("image_list", "List images in the local store"),
    ("image", "render"): (
        "image_render",
        "Render a stored image to a directory with all its dependencies",
    ),
    ("image", "rm"): (
        "image_rm",
        "Remove one or more images with the given IDs or image names from the local store",
    ),
    ("image", "verify"): ("image_verify", "Verify the stored images and their rendered trees"),
    ("version", ""): ("version", "Print the version and exit"),
    ("list", ""): ("pod_list", "List pods"),
    ("status", ""): ("pod_status", "Check the status of a rkt pod"),
    ("cat-manifest", ""): ("pod_cat_manifest", "Inspect and print the pod manifest"),
    ("rm", ""): ("pod_rm", "Remove all files and resources associated with an exited pod"),
    ("gc", ""): ("pod_gc", "Garbage collect rkt pods no longer in use"),
    ("prepare", ""): ("prepare", "Prepare to run image(s) in a pod in rkt"),
    ("run-prepared", ""): ("run_prepared", "Run a prepared application pod in rkt"),
    ("run", ""): ("run", "Run image(s) in a pod in rkt"),
    ("stop", ""): ("stop", "Stop a pod"),
    ("enter", ""): ("enter", "Enter the namespaces of an app within a rkt pod"),
    ("metadata-service", ""): ("metadata_service", "Run metadata service"),
    ("api-service", ""): ("api_service", "Run API service (experimental)"),
}

#: Verbs accepted but not listed: rkt 1.30's hidden ``image fetch``, its ``fetch``.
HIDDEN = frozenset({("image", "fetch")})

EXIT_FAILURE = 254


def _add_globals(parser: argparse.ArgumentParser) -> None:
    """rkt's persistent flags, accepted before or after the verb."""
    add = parser.add_argument
    add("--dir", default="/var/lib/rkt", help="rkt data directory")
    add("--system-config", default="/usr/lib/rkt", help="system configuration directory")
    add("--local-config", default="/etc/rkt", help="local configuration directory")
    add("--user-config", default="", help="user configuration directory")
    add(
        "--insecure-options",
        default="none",
        help="comma-separated list of security features to disable: none, image, tls, http, "
        "pubkey, capabilities, paths, seccomp, ondisk, all-fetch, all-run, all",
    )
    add(
        "--trust-keys-from-https",
        action="store_true",
        help="automatically trust gpg keys fetched from HTTPS",
    )
    add("--debug", action="store_true", help="print out more debug information")


def _usage() -> str:
    lines = ["Usage:", "  rkt [command]", "", "Available Commands:"]
    for (verb, sub), (_, summary) in VERBS.items():
        if (verb, sub) in HIDDEN:
            continue
        name = f"{verb} {sub}".strip()
        lines.append(f"  {name:<20}{summary}")
    lines += ["", 'Use "rkt [command] --help" for more information about a command.']
    return "\n".join(lines) + "\n"


def _find_verb(args: list[str]) -> tuple[tuple[str, str], int] | None:
    """The verb named by the first non-flag words, and where it stands in ``args``."""
    words = [(i, a) for i, a in enumerate(args) if not a.startswith("-")]
    # Global flags that take a value in the next word ("--dir /x") are not words.
    valued = {"--dir", "--system-config", "--local-config", "--user-config", "--insecure-options"}
    words = [(i, a) for i, a in words if not (i > 0 and args[i - 1] in valued)]
    if not words:
        return None
    index, verb = words[0]
    sub = words[1][1] if len(words) > 1 else ""
    if (verb, sub) in VERBS:
        return (verb, sub), index
    if (verb, "") in VERBS:
        return (verb, ""), index
    return None


def _help_width() -> int:
    """The width argparse's help takes (``shutil.get_terminal_size().columns - 2``), found
    without shutil: argparse builds a formatter for every flag it is given, and a formatter
    told no width imports shutil (with bz2 and lzma: 1.4 ms of every command) to ask."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


def _parser_for(key: tuple[str, str]) -> tuple[argparse.ArgumentParser, ModuleType]:
    module_name, summary = VERBS[key]
    module = importlib.import_module(f"rkt.cli.{module_name}")
    parser = argparse.ArgumentParser(
        prog=f"rkt {' '.join(filter(None, key))}",
        description=summary,
        allow_abbrev=False,
        formatter_class=functools.partial(argparse.HelpFormatter, width=_help_width()),
    )
    _add_globals(parser)
    module.add_arguments(parser)
    return parser, module


def _config(options: argparse.Namespace, own_process: bool = False) -> Config:
    from rkt.config import Config, ConfigDirs, default_user_config_dir
    from rkt.insecure import Insecure

    return Config(
        data_dir=Path(options.dir),
        dirs=ConfigDirs(
            system=Path(options.system_config),
            local=Path(options.local_config),
            user=Path(options.user_config) if options.user_config else default_user_config_dir(),
        ),
        insecure=Insecure.parse(options.insecure_options),
        trust_keys_from_https=options.trust_keys_from_https,
        debug=options.debug,
        own_process=own_process,
    )


def main(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """Run the command line ``argv``; its exit status. ``own_process``: this is the ``rkt``
    command's process, which a verb may replace (``rkt run`` becomes the pod's monitor)."""
    from rkt.errors import RktError

    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-v"]):
        args = ["version"]
    found = _find_verb(args)
    if found is None:
        if not args or args[0] in ("help", "--help", "-h"):
            sys.stdout.write(_usage())
            return 0
        word = next((a for a in args if not a.startswith("-")), args[0])
        sys.stderr.write(f"rkt: unknown command \"{word}\"\nRun 'rkt help' for usage.\n")
        return EXIT_FAILURE
    key, index = found
    rest = args[:index] + args[index + (2 if key[1] else 1) :]
    parser, module = _parser_for(key)
    options = parser.parse_args(rest)
    verb = " ".join(filter(None, key))
    try:
        config = _config(options, own_process)
        code: int = module.run(options, config)
    except RktError as err:
        _report(verb, err, options.debug)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    return code


def _report(verb: str, err: BaseException, debug: bool) -> None:
    from rkt.cli.terminal import printable  # messages may quote an image's or a pod's words

    sys.stderr.write(f"{verb}: {printable(str(err))}\n")
    if debug:
        import traceback

        traceback.print_exception(err, file=sys.stderr)


def entry() -> None:
    """The console script: ``main``, then an immediate exit.

    Tearing the interpreter down (module and object finalization) costs more than 10 ms that a
    command run in a loop should not pay; everything we write is flushed or closed by then.
    """
    code = main(own_process=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
