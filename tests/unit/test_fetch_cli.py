"""``rkt fetch`` argument handling: images, the --signature after each, pull policy flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from rkt.cli import fetch as fetch_verb
from rkt.cli.fetch import parse_images
from rkt.cli.flags import Namespace
from rkt.cli.main import parse
from rkt.errors import ConfigError


def test_signature_follows_its_image() -> None:
    words = ["a.aci", "--signature", "a.asc", "b", "c.aci", "--signature=c.asc"]
    assert parse_images(words, None) == (
        [("a.aci", Path("a.asc")), ("b", None), ("c.aci", Path("c.asc"))],
        [],
    )


def test_a_leading_signature_needs_exactly_one_image() -> None:
    assert parse_images(["a.aci"], "a.asc") == ([("a.aci", Path("a.asc"))], [])
    with pytest.raises(ConfigError):
        parse_images(["a.aci", "b.aci"], "a.asc")


def test_other_flags_among_the_images_go_back_to_the_flag_set() -> None:
    """As rkt's parseApps: fetch's own flags and the global ones may follow an image."""
    flags = {"--full": False, "--pull-policy": True, "--debug": False}
    images, others = parse_images(
        ["a", "--full", "--pull-policy", "new", "b", "--debug"], None, flags
    )
    assert images == [("a", None), ("b", None)]
    assert others == ["--full", "--pull-policy", "new", "--debug"]


@pytest.mark.parametrize(
    "words",
    [
        ["--signature", "x.asc", "a.aci"],  # nothing to follow
        ["a.aci", "--signature", "x", "--signature", "y"],  # twice
        ["a.aci", "--signature"],  # no value
        ["a.aci", "--nosuch"],  # not a flag of fetch
    ],
)
def test_refused(words: list[str]) -> None:
    with pytest.raises(ConfigError):
        parse_images(words, None, {"--full": False})


def fetch_args(*words: str) -> Namespace:
    return parse(["fetch", *words])[1]


def test_flags_before_images() -> None:
    args = fetch_args("--full", "--pull-policy=new", "example.com/app:1.0", "--signature", "x")
    assert args.full and args.pull_policy == "new"
    assert args.images == ["example.com/app:1.0", "--signature", "x"]


def test_default_pull_policy_is_update() -> None:
    assert fetch_verb._pull_policy(fetch_args("img")) == "update"
    assert fetch_verb._pull_policy(fetch_args("--store-only", "img")) == "never"
    assert fetch_verb._pull_policy(fetch_args("--no-store", "img")) == "update"
    with pytest.raises(ConfigError):
        fetch_verb._pull_policy(fetch_args("--no-store", "--store-only", "img"))


def test_image_fetch_is_a_hidden_fetch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rkt.cli.main import main

    assert main(["--help"]) == 0
    assert "image fetch" not in capsys.readouterr().out
    code = main([f"--dir={tmp_path}", "image", "fetch", "--pull-policy=never", "sha512-00aa"])
    assert code == 254
    assert capsys.readouterr().err.startswith("image fetch: no image with ID sha512-00aa")
