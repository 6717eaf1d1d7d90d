"""Entry point of ``rkt``: find the command, parse its flags as cobra and pflag did, run it.

The command tree is :mod:`rkt.cli.commands`; flags are parsed by :mod:`rkt.cli.flags` with
pflag's rules, so global flags go before or after the command. As rkt 1.30 did:

- a command may be abbreviated to a unique prefix (``rkt ver``); ``rkt help CMD``,
  ``rkt CMD --help`` and ``rkt image`` print help pages (stdout, status 0);
- ``rkt`` alone says "missing command", prints the help page and exits 2;
- a usage error (unknown command or flag, bad value, missing or extra argument) is one line on
  stderr, ``Error: ...`` with pflag's words, and status 254, as is any failure of rkt's own
  (:class:`rkt.errors.RktError`, printed ``<command>: <message>``; ``--debug`` adds the cause
  chain). A verb's module is imported only when that verb runs or shows its help.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rkt import without_typing_extensions
from rkt.cli.commands import Command, Entry, add_global_flags, children
from rkt.cli.flags import FlagSet, Namespace, UsageError

if TYPE_CHECKING:
    from rkt.config import Config

EXIT_FAILURE = 254
#: rkt's status for a missing command ("invalid argument")
EXIT_MISSING_COMMAND = 2


def _boolean_globals() -> frozenset[str]:
    flags = FlagSet()
    add_global_flags(flags)
    return frozenset(n for n, f in flags.flags.items() if not f.takes_value) | {"help"}


def _command_words(args: list[str], booleans: frozenset[str]) -> list[tuple[int, str]]:
    """The words of ``args`` that are not flags or flag values, with their index (cobra's
    stripFlags: a ``--flag`` without ``=`` takes the next word unless it is a boolean)."""
    words: list[tuple[int, str]] = []
    in_quote = in_flag = False
    for index, word in enumerate(args):
        if not in_quote:
            if word.startswith('"') or '="' in word:
                in_quote = True
            elif word.startswith("--") and "=" not in word:
                in_flag = word[2:] not in booleans
            elif word.startswith("-") and "=" not in word and len(word) == 2:
                in_flag = word[1:] != "h"
            elif in_flag:
                in_flag = False
            elif word and not word.startswith("-"):
                words.append((index, word))
        if word.endswith('"') and not word.endswith('\\"'):
            in_quote = False
    return words


def _match(path: tuple[str, ...], word: str) -> Entry | None:
    """The child of ``path`` named ``word``, or the only one whose name it begins
    (cobra.EnablePrefixMatching, which rkt turned on)."""
    below = children(path)
    for candidate in below:
        if candidate.name == word:
            return candidate
    prefixed = [c for c in below if c.name.startswith(word)]
    return prefixed[0] if len(prefixed) == 1 else None


def find(args: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """The command ``args`` name and the arguments left for it (cobra's Find)."""
    booleans = _boolean_globals()
    path: tuple[str, ...] = ()
    while True:
        words = _command_words(args, booleans)
        if not words or not children(path):
            return path, args
        index, word = words[0]
        found = _match(path, word)
        if found is None:
            where = " ".join(("rkt", *path))
            raise UsageError(
                f"unknown command {_quote(word)} for {_quote(where)}{_suggest(path, word)}"
            )
        path = found.path
        args = args[:index] + args[index + 1 :]


def _quote(text: str) -> str:
    from rkt.cli.flags import go_quote

    return go_quote(text)


def _suggest(path: tuple[str, ...], word: str) -> str:
    """cobra's suggestions: commands within two edits of ``word``, or that it begins."""
    names = [c.name for c in children(path) if not c.hidden]
    close = [n for n in names if _distance(n, word) <= 2 or n.startswith(word.lower())]
    if not close:
        return ""
    return " (did you mean " + " or ".join(_quote(n) for n in close) + "?)"


def _distance(a: str, b: str) -> int:
    """Levenshtein distance, case-insensitive as cobra's."""
    a, b = a.lower(), b.lower()
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def parse(argv: Sequence[str]) -> tuple[Command, Namespace]:
    """The command ``argv`` names and its parsed flags and arguments; UsageError otherwise.
    Positional arguments are assigned only for runnable commands without ``--help``."""
    path, rest = find(list(argv))
    command = Command(path)
    ns = Namespace()
    words = command.flags.parse(rest, ns)
    command.flags.defaults(ns)
    ns.words = words
    if not ns.help and (command.entry.runnable or path == ("help",)):
        command.flags.assign(words, ns, command.use_line)
    return command, ns


def main(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """Run the command line ``argv``; its exit status. ``own_process``: this is the ``rkt``
    command's process, which a verb may replace (``rkt run`` becomes the pod's monitor)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-v"]):
        args = ["version"]
    if own_process and "api-service" not in args:
        without_typing_extensions()
    try:
        command, ns = parse(args)
        if command.path == ("help",) and not ns.help:
            # `rkt help VERB...`: that verb's help, whatever else follows (`--` included:
            # help never runs a command).
            command, ns = parse([*ns.command, "--help"])
            _print_help(command)
            return 0
    except UsageError as err:
        from rkt.cli.terminal import printable  # the words are the caller's, any bytes

        sys.stderr.write(f"Error: {printable(str(err))}\n")
        return EXIT_FAILURE
    if ns.help or command.path == ("image",):
        _print_help(command)
        return 0
    if not command.path:
        sys.stderr.write("rkt: missing command\n")
        _print_help(command)
        return EXIT_MISSING_COMMAND
    for warning in ns.warnings:
        sys.stderr.write(warning + "\n")
    return _run(command, ns, own_process)


def _print_help(command: Command) -> None:
    from rkt.cli.usage import help_text, rkt_version_line

    sys.stdout.write(help_text(command, rkt_version_line()))


def _run(command: Command, ns: Namespace, own_process: bool = False) -> int:
    from rkt.errors import RktError

    verb = " ".join(command.path)
    assert command.module is not None
    profile = _Profile(ns)
    try:
        config = config_from(ns, own_process)
        with profile:
            code: int = command.module.run(ns, config)
    except RktError as err:
        _report(verb, err, ns.debug)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    return code


class _Profile:
    """rkt's hidden ``--cpuprofile``/``--memprofile``: Python's profilers' files instead of
    Go's pprof (cProfile's stats, tracemalloc's snapshot)."""

    def __init__(self, ns: Namespace) -> None:
        self.cpu: str = ns.cpuprofile
        self.memory: str = ns.memprofile

    def __enter__(self) -> None:
        if self.cpu:
            import cProfile

            self.profiler = cProfile.Profile()
            self.profiler.enable()
        if self.memory:
            import tracemalloc

            tracemalloc.start()

    def __exit__(self, *exc: object) -> None:
        from rkt.errors import ConfigError

        try:
            if self.cpu:
                self.profiler.disable()
                self.profiler.dump_stats(self.cpu)
            if self.memory:
                import tracemalloc

                tracemalloc.take_snapshot().dump(self.memory)
                tracemalloc.stop()
        except OSError as err:
            raise ConfigError(f"cannot write the profile: {err}") from err


def config_from(ns: Namespace, own_process: bool = False) -> Config:
    """The configuration the global flags in ``ns`` (and the config dirs) give."""
    from rkt.config import Config, ConfigDirs, default_user_config_dir
    from rkt.config_merge import data_dir_from
    from rkt.insecure import Insecure

    dirs = ConfigDirs(
        system=Path(ns.system_config),
        local=Path(ns.local_config),
        user=Path(ns.user_config) if ns.user_config else default_user_config_dir(),
    )
    # As rkt: --dir if given, else the "paths" configuration's data dir, else the default;
    # symlinks resolved.
    data_dir = ns.dir if ns.was_given("dir") else data_dir_from(dirs) or ns.dir
    return Config(
        data_dir=Path(os.path.realpath(data_dir)),
        dirs=dirs,
        insecure=Insecure.parse(ns.insecure_options),
        trust_keys_from_https=ns.trust_keys_from_https,
        debug=ns.debug,
        own_process=own_process,
    )


def _report(verb: str, err: BaseException, debug: bool) -> None:
    from rkt.cli.terminal import printable  # messages may quote an image's or a pod's words

    sys.stderr.write(f"{verb}: {printable(str(err))}\n")
    # --debug: the causes behind it, one line each, as rkt's error chains printed; never a
    # traceback for an error rkt expects.
    cause = err.__cause__ if debug else None
    while cause is not None:
        sys.stderr.write(f"{verb}:   caused by {type(cause).__name__}: {printable(str(cause))}\n")
        cause = cause.__cause__


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
