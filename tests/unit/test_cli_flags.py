"""rkt.cli.flags: flags parsed as spf13/pflag parsed them for rkt 1.30, and Go's tabwriter.

The expected results are pflag's (flag.go's parseArgs, parseLongArg, parseSingleShortArg) and
strconv.ParseBool's; tests/unit/test_cli_properties.py compares with pflag itself.
"""

from __future__ import annotations

import pytest

from rkt.cli.flags import (
    BoolFlag,
    Flag,
    FlagSet,
    ListFlag,
    Namespace,
    UsageError,
    go_quote,
    parse_bool,
)
from rkt.cli.tabwriter import tabwrite


def flag_set(interspersed: bool = True) -> FlagSet:
    flags = FlagSet()
    flags.add(BoolFlag("debug", "debug"))
    flags.add(BoolFlag("help", "help", shorthand="h"))
    flags.add(Flag("dir", "dir", "/var/lib/rkt"))
    flags.add(Flag("net", "net", "default", no_opt="default"))
    flags.add(ListFlag("dns", "dns"))
    flags.add(ListFlag("tags", "tags", ("a",), split=True))
    flags.interspersed = interspersed
    return flags


def parse(*words: str, interspersed: bool = True) -> tuple[Namespace, list[str]]:
    flags = flag_set(interspersed)
    ns = Namespace()
    rest = flags.parse(words, ns)
    flags.defaults(ns)
    return ns, rest


@pytest.mark.parametrize("word", ["1", "t", "T", "TRUE", "true", "True"])
def test_every_go_spelling_of_true(word: str) -> None:
    assert parse_bool(word) is True
    assert parse(f"--debug={word}")[0].debug is True


@pytest.mark.parametrize("word", ["0", "f", "F", "FALSE", "false", "False"])
def test_every_go_spelling_of_false(word: str) -> None:
    assert parse_bool(word) is False
    assert parse("--debug", f"--debug={word}")[0].debug is False


@pytest.mark.parametrize("word", ["", "yes", "no", "tRUE", "2", "on"])
def test_other_booleans_are_refused_with_go_words(word: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(f"--debug={word}")
    assert str(caught.value) == (
        f'invalid argument "{word}" for --debug={word}: '
        f'strconv.ParseBool: parsing "{word}": invalid syntax'
    )


def test_a_boolean_takes_no_next_word() -> None:
    ns, rest = parse("--debug", "false", "x")
    assert ns.debug is True and rest == ["false", "x"]


def test_values_with_equals_or_as_the_next_word() -> None:
    ns, rest = parse("--dir", "/a", "--dns=1.1.1.1", "--dns", "8.8.8.8,9.9.9.9", "w")
    assert ns.dir == "/a" and ns.dns == ["1.1.1.1", "8.8.8.8,9.9.9.9"] and rest == ["w"]
    assert ns.was_given("dir") and not ns.was_given("debug")


def test_an_optional_value_only_with_equals() -> None:
    ns, rest = parse("--net", "host")
    assert ns.net == "default" and rest == ["host"]
    assert parse("--net=host")[0].net == "host"
    assert parse()[0].net == "default"


def test_slices_split_on_commas_and_replace_the_default_once() -> None:
    assert parse()[0].tags == ["a"]
    assert parse("--tags=b,c", "--tags", "d")[0].tags == ["b", "c", "d"]
    assert parse('--tags="x,y",z')[0].tags == ["x,y", "z"]


def test_double_dash_ends_the_flags_and_dash_is_an_argument() -> None:
    ns, rest = parse("-", "--debug", "--", "--dir=/x", "--")
    assert ns.debug and ns.dir == "/var/lib/rkt" and rest == ["-", "--dir=/x", "--"]


def test_not_interspersed_stops_at_the_first_argument() -> None:
    ns, rest = parse("--debug", "img", "--dir=/x", "--", "a", interspersed=False)
    assert ns.debug and ns.dir == "/var/lib/rkt" and rest == ["img", "--dir=/x", "--", "a"]
    assert parse("--", "img", "--debug", interspersed=False)[1] == ["img", "--debug"]


def test_shorthands() -> None:
    assert parse("-h")[0].help is True
    assert parse("-h=false")[0].help is False
    with pytest.raises(UsageError, match="unknown shorthand flag: 'x' in -x"):
        parse("-x")
    with pytest.raises(UsageError, match="unknown shorthand flag: 'q' in -q"):
        parse("-hq")


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--nope"], "unknown flag: --nope"),
        (["--nope=1"], "unknown flag: --nope"),
        (["--dir"], "flag needs an argument: --dir"),
        (["---x"], "bad flag syntax: ---x"),
        (["--=x"], "bad flag syntax: --=x"),
    ],
)
def test_pflag_errors(words: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(*words)
    assert str(caught.value) == message


def test_go_quote() -> None:
    assert go_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert go_quote("tab\there\n") == '"tab\\there\\n"'
    assert go_quote("\x01é") == '"\\x01é"'
    assert go_quote("\udcff") == '"\\xff"'  # a byte that was not UTF-8 in argv


def test_positional_arguments_are_named_and_counted() -> None:
    flags = FlagSet()
    flags.arg("uuid", "UUID")
    flags.rest("command", "CMD")
    ns = Namespace()
    flags.assign(["u", "a", "b"], ns, "enter UUID CMD")
    assert ns.uuid == "u" and ns.command == ["a", "b"]
    with pytest.raises(UsageError, match="wrong number of arguments"):
        flags.assign([], Namespace(), "enter UUID CMD")
    optional = FlagSet()
    optional.optional_arg("uuid", "UUID")
    ns = Namespace()
    optional.assign([], ns, "status [UUID]")
    assert ns.uuid == ""
    with pytest.raises(UsageError):
        optional.assign(["a", "b"], Namespace(), "status [UUID]")


def test_tabwriter_pads_each_column_block_with_tabs() -> None:
    text = "NAME:\n\tx\n\n  --a[=false]\tshort\n  --longer-flag=\tlong\nend\n"
    assert tabwrite(text) == ("NAME:\n\tx\n\n  --a[=false]\t\tshort\n  --longer-flag=\tlong\nend\n")
    # A cell exactly one tab stop wide needs the next stop (padding 1).
    assert tabwrite("12345678\tx\nab\ty\n") == "12345678\tx\nab\t\ty\n"
