"""The downloader against a fake transport: caching headers, resuming, statuses; no sockets."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rkt.errors import FetchError
from rkt.fetch.download import PartialDownload, StatusError, download
from rkt.fetch.http import Response, TransferInterrupted


@dataclass
class FakeResponse:
    status: int
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    break_after: int | None = None

    def header(self, name: str) -> str | None:
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower())

    def chunks(self, size: int) -> Iterator[bytes]:
        end = len(self.body) if self.break_after is None else self.break_after
        for start in range(0, end, size):
            yield self.body[start : min(start + size, end)]
        if self.break_after is not None:
            raise TransferInterrupted(f"{self.url}: transfer interrupted")

    def close(self) -> None:
        pass


@dataclass
class FakeTransport:
    """Answers each request with the next response; records the request headers."""

    responses: list[FakeResponse]
    sent: list[dict[str, str]] = field(default_factory=list)

    def request(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        method: str = "GET",
        origin_headers: Mapping[str, str] | None = None,
    ) -> Response:
        self.sent.append(dict(headers or {}))
        return self.responses.pop(0)


URL = "https://example.com/app.aci"


@pytest.fixture
def temp(tmp_path: Path) -> Iterator[PartialDownload]:
    with PartialDownload(tmp_path / "tmp", URL) as temp:
        yield temp


def content(temp: PartialDownload) -> bytes:
    temp.file.seek(0)
    return temp.file.read()


def test_plain_download_remembers_etag_and_max_age(temp: PartialDownload) -> None:
    headers = {"ETag": '"v1"', "Cache-Control": "max-age=60"}
    transport = FakeTransport([FakeResponse(200, URL, headers, b"x" * 3000)])
    result = download(transport, URL, temp.file)
    assert (result.not_modified, result.etag, result.max_age, result.size) == (
        False,
        '"v1"',
        60,
        3000,
    )
    assert content(temp) == b"x" * 3000
    assert transport.sent == [{}]


def test_etag_is_sent_and_304_transfers_nothing(temp: PartialDownload) -> None:
    transport = FakeTransport([FakeResponse(304, URL, {"Cache-Control": "max-age=5"})])
    result = download(transport, URL, temp.file, etag='"v1"')
    assert result.not_modified and result.etag == '"v1"' and result.max_age == 5
    assert transport.sent == [{"If-None-Match": '"v1"'}]
    assert content(temp) == b""


def test_304_without_an_etag_sent_is_an_error(temp: PartialDownload) -> None:
    with pytest.raises(StatusError, match="304"):
        download(FakeTransport([FakeResponse(304, URL)]), URL, temp.file)


def test_interrupted_transfer_resumes_with_range_and_if_range(temp: PartialDownload) -> None:
    body = bytes(range(256)) * 100
    transport = FakeTransport(
        [
            FakeResponse(200, URL, {"ETag": '"v1"'}, body, break_after=1000),
            FakeResponse(
                206,
                URL,
                {"ETag": '"v1"', "Content-Range": f"bytes 1000-{len(body) - 1}/{len(body)}"},
                body[1000:],
            ),
        ]
    )
    result = download(transport, URL, temp.file)
    assert content(temp) == body and result.size == len(body)
    assert transport.sent[1] == {"Range": "bytes=1000-", "If-Range": '"v1"'}


def test_changed_resource_restarts_from_zero(temp: PartialDownload) -> None:
    # The server ignores If-Range (the resource changed) and sends the whole new body.
    transport = FakeTransport(
        [
            FakeResponse(200, URL, {"ETag": '"v1"'}, b"a" * 100, break_after=50),
            FakeResponse(200, URL, {"ETag": '"v2"'}, b"b" * 80),
        ]
    )
    result = download(transport, URL, temp.file)
    assert content(temp) == b"b" * 80 and result.etag == '"v2"'


def test_weak_etag_falls_back_to_last_modified(temp: PartialDownload) -> None:
    stamp = "Mon, 01 Jan 2024 00:00:00 GMT"
    headers = {"ETag": 'W/"v1"', "Last-Modified": stamp}
    transport = FakeTransport(
        [
            FakeResponse(200, URL, headers, b"a" * 100, break_after=10),
            FakeResponse(206, URL, {"Content-Range": "bytes 10-99/100"}, b"a" * 90),
        ]
    )
    download(transport, URL, temp.file)
    assert transport.sent[1]["If-Range"] == stamp


def test_no_validator_means_no_range(temp: PartialDownload) -> None:
    transport = FakeTransport(
        [
            FakeResponse(200, URL, {}, b"a" * 100, break_after=10),
            FakeResponse(200, URL, {}, b"a" * 100),
        ]
    )
    download(transport, URL, temp.file)
    assert transport.sent[1] == {}
    assert content(temp) == b"a" * 100


def test_misplaced_content_range_starts_over(temp: PartialDownload) -> None:
    transport = FakeTransport(
        [
            FakeResponse(200, URL, {"ETag": '"v"'}, b"a" * 100, break_after=10),
            FakeResponse(206, URL, {"Content-Range": "bytes 0-99/100"}, b"a" * 100),
            FakeResponse(200, URL, {"ETag": '"v"'}, b"a" * 100),
        ]
    )
    download(transport, URL, temp.file)
    assert content(temp) == b"a" * 100
    assert transport.sent[2] == {}


def test_gives_up_after_the_attempts(temp: PartialDownload) -> None:
    transport = FakeTransport(
        [FakeResponse(200, URL, {}, b"a" * 100, break_after=10) for _ in range(2)]
    )
    with pytest.raises(TransferInterrupted):
        download(transport, URL, temp.file, attempts=2)


@pytest.mark.parametrize("status", [401, 403, 404, 500])
def test_error_statuses(temp: PartialDownload, status: int) -> None:
    with pytest.raises(StatusError) as info:
        download(FakeTransport([FakeResponse(status, URL)]), URL, temp.file)
    assert info.value.status == status
    assert isinstance(info.value, FetchError)


def test_temp_download_is_locked_private_and_removed(tmp_path: Path) -> None:
    with PartialDownload(tmp_path / "tmp", URL) as temp:
        assert temp.path.parent == tmp_path / "tmp"
        assert temp.path.stat().st_mode & 0o777 == 0o600
        fd = os.open(temp.path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    assert not temp.path.exists()


def test_partial_download_is_kept_after_a_broken_transfer_and_resumed(tmp_path: Path) -> None:
    body = b"0123456789" * 100
    transport = FakeTransport([FakeResponse(200, URL, {"ETag": '"v1"'}, body, break_after=300)])
    with pytest.raises(TransferInterrupted), PartialDownload(tmp_path, URL) as partial:
        download(transport, URL, partial.file, attempts=1, on_validator=partial.save_validator)
    assert partial.path.stat().st_size == 300  # kept for the next run

    transport = FakeTransport(
        [FakeResponse(206, URL, {"Content-Range": "bytes 300-999/1000"}, body[300:])]
    )
    with PartialDownload(tmp_path, URL) as partial:
        resume = partial.resume_point()
        assert resume == (300, '"v1"')
        download(transport, URL, partial.file, resume=resume)
        partial.complete = True
        assert content(partial) == body
    assert transport.sent == [{"Range": "bytes=300-", "If-Range": '"v1"'}]
    assert list(tmp_path.iterdir()) == []  # used: removed with its validator


def test_partial_without_validator_starts_over(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), PartialDownload(tmp_path, URL) as partial:
        partial.file.write(b"stale")
        raise RuntimeError("killed")
    with PartialDownload(tmp_path, URL) as partial:
        assert partial.resume_point() == (0, None)
        assert content(partial) == b""


def test_other_urls_use_other_files(tmp_path: Path) -> None:
    with PartialDownload(tmp_path, URL) as a, PartialDownload(tmp_path, URL + "x") as b:
        assert a.path != b.path
