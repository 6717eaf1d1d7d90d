"""``actool discover`` argument handling and output format (no network)."""

from __future__ import annotations

import argparse
import json

import pytest

from appc.actool import discover


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="actool discover")
    discover.add_arguments(parser)
    return parser.parse_args(argv)


def test_flags_and_apps() -> None:
    args = parse(
        "--json", "--insecure", "--port", "8443", "example.com/app,version=1.0,os=linux", "b.org/c"
    )
    assert args.json and args.insecure and args.port == 8443
    assert args.apps == ["example.com/app,version=1.0,os=linux", "b.org/c"]
    defaults = parse("example.com/app")
    assert not defaults.json and not defaults.insecure and defaults.port == 0


def test_no_app_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert discover.run(parse()) == 1
    assert capsys.readouterr().err == "discover: at least one name required\n"


def test_bad_app_string_is_reported_per_app(capsys: pytest.CaptureFixture[str]) -> None:
    assert discover.run(parse("Not Valid", "example.com/a,label")) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].startswith("Not Valid: ")
    assert err[1].startswith("example.com/a,label: ") and "has no value" in err[1]


def test_json_layout_matches_go_encoding() -> None:
    text = discover._to_json([("https://s/a.aci?x=1&y=<2>", "https://s/a.aci.asc")], ["https://k"])
    assert text == (
        "{\n"
        '    "ACIEndpoints": [\n'
        "        {\n"
        '            "ACI": "https://s/a.aci?x=1\\u0026y=\\u003c2\\u003e",\n'
        '            "ASC": "https://s/a.aci.asc"\n'
        "        }\n"
        "    ],\n"
        '    "PublicKeys": [\n'
        '        "https://k"\n'
        "    ]\n"
        "}"
    )
    assert json.loads(text)["ACIEndpoints"][0]["ACI"] == "https://s/a.aci?x=1&y=<2>"
