"""The options file through the stage1 interface: what stage0 writes reads back the same, and a
damaged or hostile file is refused in one line naming the file and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from rkt.errors import PodError
from rkt.pod import layout
from rkt.stage1.interface import Options, OptionsError, RunOptions, read_options


def _write(pod: Path, data: bytes) -> None:
    (pod / layout.OPTIONS).parent.mkdir(parents=True, exist_ok=True)
    (pod / layout.OPTIONS).write_bytes(data)


def test_written_options_read_back(tmp_path: Path) -> None:
    assert read_options(tmp_path) is None  # a pod from before options existed
    written = Options(
        version=1,
        options=RunOptions(
            hostname="h", set_env=(("K", "V"),), hosts_entries=(("10.0.0.1", ("a",)),)
        ),
        app_environment={"web": (("A", "b"),)},
        net="default",
        netns=layout.NETNS,
        stage1="fly",
    )
    _write(tmp_path, written.to_json())
    assert read_options(tmp_path) == written


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"not json", "is not JSON: not valid JSON"),
        (b"[1, 2]", "is not a JSON object"),
        (b'{"version": 2}', "expected an object with version 1"),
        (b'{"version": 1, "options": {"hostname": 3}}', "Expected `str`, got `int`"),
        (b'{"version": 1, "options": {"rootless": true}}', "unknown field `rootless`"),
        (b'{"version": 1, "x": ' + b"[" * 100 + b"]" * 100 + b"}", "nests deeper than 64"),
    ],
)
def test_damaged_options_are_one_line(tmp_path: Path, data: bytes, said: str) -> None:
    _write(tmp_path, data)
    with pytest.raises(OptionsError) as caught:
        read_options(tmp_path)
    message = str(caught.value)
    assert isinstance(caught.value, PodError) and layout.OPTIONS in message
    assert said in message and "\n" not in message
