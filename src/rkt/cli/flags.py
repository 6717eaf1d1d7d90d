"""Command-line flags parsed as Go's spf13/pflag parsed them for rkt 1.30 (cobra's flag sets).

rkt's callers (Nomad's rkt driver, systemd units, scripts) write Go-style command lines, so the
rules are pflag's, not argparse's:

- ``--flag=value`` and ``--flag value``; a flag with a "no option default" (every boolean, and
  ``--net``, ``--wait``) takes a value only after ``=``: ``--debug false`` leaves ``false`` as
  an argument. Booleans accept what Go's ``strconv.ParseBool`` accepts.
- ``--`` ends the flags; ``-`` alone is an argument; ``-h`` is the only shorthand (help).
- A flag set may stop at the first argument (cobra's ``SetInterspersed(false)``: run, prepare,
  fetch, enter), leaving the rest, flags included, to the verb.
- Errors carry pflag's own words (``unknown flag: --x``, ``flag needs an argument: --dir``,
  ``invalid argument "x" for --debug=x: ...``); the CLI prints them as one line and exits 254.

One :class:`FlagSet` per command is the single source of truth: parsing, ``--help``
(:mod:`rkt.cli.usage`), shell completion and man pages all read it. Values are stored on a
:class:`Namespace` (``--dry-run`` as ``dry_run``), which also remembers which flags were given:
a list flag's first use replaces its default and later uses add to it, across the several
passes ``rkt run`` makes over its words, as pflag's values did.

Imports nothing beyond the standard library's builtins: ``rkt --help`` is meant to be cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

#: strconv.ParseBool's spellings.
TRUE_WORDS = frozenset({"1", "t", "T", "TRUE", "true", "True"})
FALSE_WORDS = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class UsageError(Exception):
    """A command line rkt refuses before doing anything: printed as one line, exit 254."""


def parse_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool``; ValueError with Go's message otherwise."""
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"strconv.ParseBool: parsing {go_quote(text)}: invalid syntax")


def go_quote(text: str) -> str:
    """Go's ``%q`` (strconv.Quote) of ``text``; bytes that were not UTF-8 (surrogate escapes,
    as Python decodes argv) are shown as ``\\xNN``, as Go shows them."""
    out = ['"']
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
             "\v": "\\v", '"': '\\"', "\\": "\\\\"}  # fmt: skip
    for ch in text:
        code = ord(ch)
        if ch in named:
            out.append(named[ch])
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


class Namespace:
    """Parsed flag values as attributes, plus the positional arguments the command names."""

    def __init__(self) -> None:
        #: names of the flags given on the command line (pflag's ``Changed``)
        self.given_flags: set[str] = set()
        #: messages to print once the command line is accepted (deprecated flags)
        self.warnings: list[str] = []

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"no flag or argument {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def was_given(self, flag: str) -> bool:
        return flag in self.given_flags


class Flag:
    """One flag: its name, help, how it shows in help (pflag's ``Value.Type()`` and
    ``DefValue``) and how a value given for it is stored."""

    #: pflag's type name; "string" flags show their default quoted in help
    type_name = "string"

    def __init__(
        self,
        name: str,
        usage: str,
        default: Any = "",
        *,
        default_text: str | None = None,
        no_opt: str = "",
        type_name: str | None = None,
        check: Callable[[str], Any] | None = None,
        hidden: bool = False,
        deprecated: str = "",
        shorthand: str = "",
        per_app: bool = False,
        persistent: bool = False,
        metavar: str = "",
        choices: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.dest = name.replace("-", "_")
        self.usage = usage
        self.default = default
        self.default_text = default_text if default_text is not None else self._text(default)
        #: pflag's NoOptDefVal: the value of ``--flag`` without ``=value``
        self.no_opt = no_opt
        if type_name is not None:
            self.type_name = type_name
        #: converts (and so validates) a value; ValueError's text is pflag's reason
        self.check = check
        self.hidden = hidden
        #: pflag's Deprecated: accepted, hidden from help, and a warning when used
        self.deprecated = deprecated
        self.shorthand = shorthand
        #: rkt run/prepare's flags for the image before them (rkt/cli_apps.go)
        self.per_app = per_app
        #: a global flag (cobra's persistent flags of the root command)
        self.persistent = persistent
        #: what completion and man pages call the value
        self.metavar = metavar or name.upper().replace("-", "_")
        #: the values completion offers (checked by ``check``, if any)
        self.choices = choices

    @staticmethod
    def _text(default: Any) -> str:
        if isinstance(default, bool):
            return "true" if default else "false"
        if isinstance(default, list | tuple):
            return ",".join(str(v) for v in default)
        return str(default)

    @property
    def takes_value(self) -> bool:
        """Whether ``--flag WORD`` gives WORD to the flag (no "no option default")."""
        return not self.no_opt

    def convert(self, text: str) -> Any:
        return self.check(text) if self.check is not None else text

    def store(self, ns: Namespace, text: str) -> None:
        setattr(ns, self.dest, self.convert(text))

    def set_default(self, ns: Namespace) -> None:
        setattr(ns, self.dest, self.default)


class BoolFlag(Flag):
    type_name = "bool"

    def __init__(self, name: str, usage: str, default: bool = False, **kwargs: Any) -> None:
        super().__init__(name, usage, default, no_opt="true", **kwargs)

    def convert(self, text: str) -> Any:
        return parse_bool(text)


class ListFlag(Flag):
    """Repeatable; each value kept whole (rkt's flagStringList, kvMap, portList, appsVolume)
    or split on commas (``split=True``: pflag's stringSlice). The first value given replaces
    the default, later ones add to it."""

    def __init__(
        self, name: str, usage: str, default: tuple[str, ...] = (), *, split: bool = False,
        join: str = "", **kwargs: Any,
    ) -> None:  # fmt: skip
        kwargs.setdefault("type_name", "stringSlice" if split else "stringList")
        kwargs.setdefault("default_text", "[" + ",".join(default) + "]" if split else "")
        super().__init__(name, usage, default, **kwargs)
        self.split = split
        #: store the values joined into one string (rkt's --net: "a,b" and "--net=a --net=b")
        self.join = join

    def store(self, ns: Namespace, text: str) -> None:
        words = _csv_fields(text) if self.split else [text]
        values = [self.convert(w) for w in words]
        current = self._values(ns) if ns.was_given(self.name) else []
        self._put(ns, [*current, *values])

    def _values(self, ns: Namespace) -> list[str]:
        value = getattr(ns, self.dest)
        return (value.split(self.join) if value else []) if self.join else list(value)

    def _put(self, ns: Namespace, values: list[Any]) -> None:
        setattr(ns, self.dest, self.join.join(values) if self.join else values)

    def set_default(self, ns: Namespace) -> None:
        self._put(ns, list(self.default))


def _csv_fields(text: str) -> list[str]:
    """The first record of Go's encoding/csv over ``text``, as pflag's stringSlice reads a
    value: fields split on commas, a field may be quoted (``""`` inside is one quote); a
    stray quote is an error, and a newline ends the record. An empty value is no values, as
    current pflag reads it (the 2016 one rkt vendored refused it; rkt had no such flag)."""
    if text == "":
        return []
    text = text.replace("\r\n", "\n")
    fields: list[str] = []
    index = 0
    while True:
        if text[index : index + 1] != '"':
            end = len(text)
            for stop in (",", "\n"):
                found = text.find(stop, index)
                if found != -1:
                    end = min(end, found)
            field = text[index:end]
            if '"' in field:
                raise ValueError('parse error: bare " in non-quoted-field')
            fields.append(field)
            if end == len(text) or text[end] == "\n":
                return fields
            index = end + 1
            continue
        field_chars: list[str] = []
        index += 1
        while True:
            if index >= len(text):
                raise ValueError('parse error: extraneous or missing " in quoted-field')
            ch = text[index]
            if ch != '"':
                field_chars.append(ch)
                index += 1
            elif text[index + 1 : index + 2] == '"':
                field_chars.append('"')
                index += 2
            else:
                index += 1
                break
        fields.append("".join(field_chars))
        if index >= len(text) or text[index] == "\n":
            return fields
        if text[index] != ",":
            raise ValueError('parse error: extraneous or missing " in quoted-field')
        index += 1


#: What shell completion offers for an argument, by its name (:class:`Positional`'s
#: ``complete``): the store's images, the pods (optionally of some states), files.
_COMPLETE_BY_METAVAR = {"UUID": "pods", "IMAGE": "images"}


class Positional:
    """A positional argument of a command: one (``count=1``), optional (0..1) or the rest.
    ``complete`` says what completion offers: "images", "pods" (or "pods:STATE|STATE"),
    "files" or "words:a b c"; by default chosen from the metavar."""

    def __init__(
        self, dest: str, metavar: str, minimum: int = 1, maximum: int | None = 1,
        complete: str = "",
    ) -> None:  # fmt: skip
        self.dest = dest
        self.metavar = metavar
        self.minimum = minimum
        self.maximum = maximum
        self.complete = complete or _COMPLETE_BY_METAVAR.get(metavar, "files")


class FlagSet:
    """The flags of one command (its own, and the global ones) and its positional arguments."""

    def __init__(self) -> None:
        self.flags: dict[str, Flag] = {}
        self.shorthands: dict[str, Flag] = {}
        self.positionals: list[Positional] = []
        #: cobra's SetInterspersed: False stops at the first argument
        self.interspersed = True

    # --- declaring ---------------------------------------------------------------------------

    def add(self, flag: Flag) -> Flag:
        if flag.name in self.flags:
            raise ValueError(f"flag redefined: {flag.name}")  # a bug in a flag table
        self.flags[flag.name] = flag
        if flag.shorthand:
            self.shorthands[flag.shorthand] = flag
        return flag

    def add_bool(self, name: str, default: bool, usage: str, **kwargs: Any) -> Flag:
        return self.add(BoolFlag(name, usage, default, **kwargs))

    def add_string(self, name: str, default: str, usage: str, **kwargs: Any) -> Flag:
        return self.add(Flag(name, usage, default, **kwargs))

    def add_list(self, name: str, usage: str, **kwargs: Any) -> Flag:
        return self.add(ListFlag(name, usage, **kwargs))

    def arg(self, dest: str, metavar: str, *, complete: str = "") -> None:
        """A required positional argument."""
        self.positionals.append(Positional(dest, metavar, complete=complete))

    def optional_arg(self, dest: str, metavar: str, *, complete: str = "") -> None:
        self.positionals.append(Positional(dest, metavar, 0, 1, complete=complete))

    def rest(self, dest: str, metavar: str, minimum: int = 0, *, complete: str = "") -> None:
        """All the remaining arguments, as a list (at least ``minimum`` of them)."""
        self.positionals.append(Positional(dest, metavar, minimum, None, complete=complete))

    # --- reading -----------------------------------------------------------------------------

    def lookup(self, name: str) -> Flag | None:
        return self.flags.get(name)

    def visible(self, *, persistent: bool | None = None) -> Iterator[Flag]:
        """The flags help shows, sorted by name as pflag's VisitAll visits them."""
        for name in sorted(self.flags):
            flag = self.flags[name]
            if flag.hidden or flag.deprecated:
                continue
            if persistent is None or flag.persistent == persistent:
                yield flag

    def value_flags(self, *, per_app: bool) -> dict[str, bool]:
        """``--name`` → whether it takes the next word as its value, for the flags that are
        (or are not) per-app: rkt run's word-by-word reading of images (rkt.stage0.apps)."""
        return {f"--{f.name}": f.takes_value for f in self.flags.values() if f.per_app == per_app}

    def defaults(self, ns: Namespace) -> Namespace:
        for flag in self.flags.values():
            if not hasattr(ns, flag.dest):
                flag.set_default(ns)
        return ns

    def parse(self, args: Iterable[str], ns: Namespace) -> list[str]:
        """Set the flags in ``args`` on ``ns``; the arguments left (pflag's ``Args()``).

        Raises :class:`UsageError` with pflag's message; ``--help``/``-h`` set ``help``.
        """
        rest: list[str] = []
        words = list(args)
        index = 0
        while index < len(words):
            word = words[index]
            index += 1
            if len(word) < 2 or word[0] != "-":
                if not self.interspersed:
                    rest.append(word)
                    rest.extend(words[index:])
                    return rest
                rest.append(word)
                continue
            if word == "--":
                rest.extend(words[index:])
                return rest
            if word[1] == "-":
                index = self._long(word, words, index, ns)
            else:
                index = self._short(word, words, index, ns)
        return rest

    def _long(self, word: str, words: list[str], index: int, ns: Namespace) -> int:
        body = word[2:]
        if not body or body[0] in "-=":
            raise UsageError(f"bad flag syntax: {word}")
        name, eq, value = body.partition("=")
        flag = self.flags.get(name)
        if flag is None:
            raise UsageError(f"unknown flag: --{name}")
        if not eq:
            if flag.no_opt:
                value = flag.no_opt
            elif index < len(words):
                value, index = words[index], index + 1
            else:
                raise UsageError(f"flag needs an argument: {word}")
        self._set(flag, value, word, ns)
        return index

    def _short(self, word: str, words: list[str], index: int, ns: Namespace) -> int:
        shorthands = word[1:]
        while shorthands:
            letter = shorthands[0]
            flag = self.shorthands.get(letter)
            if flag is None:
                raise UsageError(f"unknown shorthand flag: {_go_char(letter)} in -{shorthands}")
            if len(shorthands) > 2 and shorthands[1] == "=":
                value, rest = shorthands[2:], ""
            elif flag.no_opt:
                value, rest = flag.no_opt, shorthands[1:]
            elif len(shorthands) > 1:
                value, rest = shorthands[1:], ""
            elif index < len(words):
                value, rest, index = words[index], "", index + 1
            else:
                raise UsageError(f"flag needs an argument: {_go_char(letter)} in -{shorthands}")
            self._set(flag, value, shorthands, ns)
            shorthands = rest
        return index

    def _set(self, flag: Flag, value: str, original: str, ns: Namespace) -> None:
        try:
            flag.store(ns, value)
        except ValueError as err:
            raise UsageError(f"invalid argument {go_quote(value)} for {original}: {err}") from None
        ns.given_flags.add(flag.name)
        if flag.deprecated:
            ns.warnings.append(f"Flag --{flag.name} has been deprecated, {flag.deprecated}")

    def assign(self, words: list[str], ns: Namespace, usage_line: str) -> None:
        """Give the positional arguments to the names the command declared; a command that
        declares none ignores them, as rkt's did."""
        if not self.positionals:
            return
        count = len(words)
        minimum = sum(p.minimum for p in self.positionals)
        maxima = [p.maximum for p in self.positionals]
        maximum = None if None in maxima else sum(m for m in maxima if m is not None)
        if count < minimum or (maximum is not None and count > maximum):
            names = " ".join(p.metavar for p in self.positionals)
            raise UsageError(
                f"wrong number of arguments ({count}) for {names}; usage: {usage_line}"
            )
        spare = count - minimum
        index = 0
        for positional in self.positionals:
            if positional.maximum is None:
                take = positional.minimum + spare
                setattr(ns, positional.dest, words[index : index + take])
            else:
                extra = min(spare, positional.maximum - positional.minimum)
                take = positional.minimum + extra
                value = words[index] if take else ""
                setattr(ns, positional.dest, value)
            spare -= take - positional.minimum
            index += take


def _go_char(letter: str) -> str:
    """Go's ``%q`` of a byte: ``'x'``."""
    return "'\\''" if letter == "'" else f"'{letter}'"
