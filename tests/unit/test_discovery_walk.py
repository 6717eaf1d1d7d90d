"""The discovery walk, driven by a fake transport (a plain callable; no sockets)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from appc.discovery import (
    ACIEndpoint,
    App,
    Insecure,
    Response,
    discover_aci_endpoints,
    discover_public_keys,
    discovery_url,
)
from appc.errors import DiscoveryError
from appc.schema.labels import host_os_arch

Page = str | Response | Exception


class FakeWeb:
    """A transport: URL → page body (200), a full Response, or an exception; else 404."""

    def __init__(self, pages: Mapping[str, Page]) -> None:
        self.pages = dict(pages)
        self.calls: list[str] = []

    def __call__(self, url: str, /) -> Response:
        self.calls.append(url)
        page = self.pages.get(url)
        if page is None:
            return Response(404, url, b"not found")
        if isinstance(page, Exception):
            raise page
        if isinstance(page, Response):
            return page
        return Response(200, url, page.encode())


def html(*tags: tuple[str, str]) -> str:
    """A page with one meta tag per (name, content), wrapped in ordinary HTML."""
    metas = "\n".join(f'<meta name="{name}" content="{content}">' for name, content in tags)
    return f"<!DOCTYPE html>\n<html><head><title>x</title>\n{metas}\n</head><body></body></html>"


ACI_TAG = (
    "ac-discovery",
    "example.com https://storage.example.com/{name}-{version}-{os}-{arch}.{ext}",
)
KEYS_TAG = ("ac-discovery-pubkeys", "example.com https://example.com/pubkeys.gpg")
LINUX = App("example.com/myapp", {"version": "1.0.0", "os": "linux", "arch": "amd64"})
MYAPP = "https://example.com/myapp?ac-discovery=1"
ROOT = "https://example.com?ac-discovery=1"


def endpoint(stem: str) -> ACIEndpoint:
    return ACIEndpoint(f"{stem}.aci", f"{stem}.aci.asc")


def test_discovers_endpoints_and_keys() -> None:
    web = FakeWeb({MYAPP: html(ACI_TAG, KEYS_TAG)})
    endpoints, attempts = discover_aci_endpoints(LINUX, transport=web)
    assert endpoints == [
        endpoint("https://storage.example.com/example.com/myapp-1.0.0-linux-amd64")
    ]
    assert attempts == []
    assert web.calls == [MYAPP]
    keys, attempts = discover_public_keys(LINUX, transport=web)
    assert keys == ["https://example.com/pubkeys.gpg"]


def test_walks_up_the_path_to_the_host() -> None:
    web = FakeWeb({ROOT: html(ACI_TAG, KEYS_TAG)})
    app = App("example.com/myapp/foobar", LINUX.labels)
    endpoints, attempts = discover_aci_endpoints(app, transport=web)
    assert web.calls == [
        "https://example.com/myapp/foobar?ac-discovery=1",
        MYAPP,
        ROOT,
    ]
    assert endpoints == [
        endpoint("https://storage.example.com/example.com/myapp/foobar-1.0.0-linux-amd64")
    ]
    assert [a.prefix for a in attempts] == ["example.com/myapp/foobar", "example.com/myapp"]
    assert "expected status 200, got 404" in str(attempts[0].error)


def test_a_page_without_matching_tags_sends_the_walk_up_silently() -> None:
    web = FakeWeb({MYAPP: html(KEYS_TAG), ROOT: html(ACI_TAG)})
    endpoints, attempts = discover_aci_endpoints(LINUX, transport=web)
    assert len(endpoints) == 1
    assert attempts == []
    assert web.calls == [MYAPP, ROOT]


def test_keys_and_endpoints_may_come_from_different_levels() -> None:
    web = FakeWeb(
        {
            MYAPP: html(KEYS_TAG),
            ROOT: html(ACI_TAG, ("ac-discovery-pubkeys", "example.com https://root/keys")),
        }
    )
    keys, _ = discover_public_keys(LINUX, transport=web)
    assert keys == ["https://example.com/pubkeys.gpg"]
    endpoints, _ = discover_aci_endpoints(LINUX, transport=web)
    assert endpoints == [
        endpoint("https://storage.example.com/example.com/myapp-1.0.0-linux-amd64")
    ]


def test_nothing_found_anywhere_is_an_error_naming_the_url() -> None:
    web = FakeWeb({"https://example.com/path/out/of/myapp?ac-discovery=1": html(ACI_TAG, KEYS_TAG)})
    app = App("example.com/myapp/foobar/bazzer", LINUX.labels)
    with pytest.raises(DiscoveryError) as info:
        discover_aci_endpoints(app, transport=web)
    message = str(info.value)
    assert "example.com/myapp/foobar/bazzer" in message
    assert "https://example.com/myapp/foobar/bazzer?ac-discovery=1" in message
    assert "\n" not in message
    with pytest.raises(DiscoveryError, match="ac-discovery-pubkeys"):
        discover_public_keys(app, transport=web)


def test_prefix_must_start_the_name() -> None:
    page = html(
        ("ac-discovery", "example.org https://org/{name}.{ext}"),
        ("ac-discovery", "example.com/other https://other/{name}.{ext}"),
        ("ac-discovery", "myapp https://bare/{name}.{ext}"),
        ("ac-discovery", "example.com https://com/{name}.{ext}"),
    )
    endpoints, _ = discover_aci_endpoints(LINUX, transport=FakeWeb({MYAPP: page}))
    assert endpoints == [endpoint("https://com/example.com/myapp")]


def test_prefix_is_a_plain_string_prefix_as_in_the_reference() -> None:
    page = html(("ac-discovery", "example.com/my https://s/{name}.{ext}"))
    endpoints, _ = discover_aci_endpoints(LINUX, transport=FakeWeb({MYAPP: page}))
    assert endpoints == [endpoint("https://s/example.com/myapp")]


def test_longest_prefix_wins_and_ties_keep_page_order() -> None:
    page = html(
        ("ac-discovery", "example.com https://short/{name}.{ext}"),
        ("ac-discovery", "example.com/myapp https://long1/{name}.{ext}"),
        ("ac-discovery", "example.com/my https://middle/{name}.{ext}"),
        ("ac-discovery", "example.com/myapp https://long2/{name}.{ext}"),
        ("ac-discovery-pubkeys", "example.com https://short/keys"),
        ("ac-discovery-pubkeys", "example.com/myapp https://long/keys"),
    )
    web = FakeWeb({MYAPP: page})
    endpoints, _ = discover_aci_endpoints(LINUX, transport=web)
    assert endpoints == [
        endpoint("https://long1/example.com/myapp"),
        endpoint("https://long2/example.com/myapp"),
    ]
    assert discover_public_keys(LINUX, transport=web)[0] == ["https://long/keys"]


def test_unfillable_templates_are_dropped_before_choosing_the_prefix() -> None:
    page = html(
        ("ac-discovery", "example.com/myapp https://long/{name}-{channel}.{ext}"),
        ("ac-discovery", "example.com https://short/{name}-{version}.{ext}"),
        ("ac-discovery", "example.com https://short/{name}-{missing}.{ext}"),
    )
    web = FakeWeb({MYAPP: page})
    assert discover_aci_endpoints(LINUX, transport=web)[0] == [
        endpoint("https://short/example.com/myapp-1.0.0")
    ]
    beta = App(LINUX.name, {**LINUX.labels, "channel": "beta"})
    assert discover_aci_endpoints(beta, transport=web)[0] == [
        endpoint("https://long/example.com/myapp-beta")
    ]


def test_a_page_of_unfillable_templates_sends_the_walk_up() -> None:
    web = FakeWeb(
        {
            MYAPP: html(("ac-discovery", "example.com https://s/{name}-{channel}.{ext}")),
            ROOT: html(("ac-discovery", "example.com https://root/{name}.{ext}")),
        }
    )
    assert discover_aci_endpoints(LINUX, transport=web)[0] == [
        endpoint("https://root/example.com/myapp")
    ]


def test_absent_labels_take_defaults() -> None:
    host_os, host_arch = host_os_arch()
    page = html(("ac-discovery", "example.com https://s/{os}/{arch}/{name}-{version}.{ext}"))
    endpoints, _ = discover_aci_endpoints(
        App("example.com/myapp"), transport=FakeWeb({MYAPP: page})
    )
    assert endpoints == [endpoint(f"https://s/{host_os}/{host_arch}/example.com/myapp-latest")]


def test_custom_labels_fill_templates() -> None:
    page = html(("ac-discovery", "example.com https://s/{channel}/{name}:{version}.{ext}"))
    app = App.parse("example.com/myapp:2.0,channel=alpha")
    endpoints, _ = discover_aci_endpoints(app, transport=FakeWeb({MYAPP: page}))
    assert endpoints == [endpoint("https://s/alpha/example.com/myapp:2.0")]


def test_plain_http_is_never_tried_without_insecure() -> None:
    web = FakeWeb(
        {
            MYAPP: DiscoveryError("https://example.com/myapp?ac-discovery=1: connection refused"),
            "http://example.com/myapp?ac-discovery=1": html(ACI_TAG),
        }
    )
    for insecure in (Insecure.NONE, Insecure.TLS):
        web.calls.clear()
        with pytest.raises(DiscoveryError, match="connection refused"):
            discover_aci_endpoints(LINUX, transport=web, insecure=insecure)
        assert all(url.startswith("https://") for url in web.calls)


@pytest.mark.parametrize(
    "https_page",
    [
        DiscoveryError("tls handshake failed"),
        OSError("network is unreachable"),
        Response(404, MYAPP, b""),
    ],
)
def test_https_first_then_http_with_insecure(https_page: Page) -> None:
    web = FakeWeb({MYAPP: https_page, "http://example.com/myapp?ac-discovery=1": html(ACI_TAG)})
    endpoints, attempts = discover_aci_endpoints(LINUX, transport=web, insecure=Insecure.HTTP)
    assert len(endpoints) == 1
    assert attempts == []
    assert web.calls == [MYAPP, "http://example.com/myapp?ac-discovery=1"]


def test_https_success_skips_http() -> None:
    web = FakeWeb({MYAPP: html(ACI_TAG)})
    discover_aci_endpoints(LINUX, transport=web, insecure=Insecure.HTTP | Insecure.TLS)
    assert web.calls == [MYAPP]


def test_both_schemes_failing_reports_both() -> None:
    web = FakeWeb({ROOT: html(ACI_TAG)})
    _, attempts = discover_aci_endpoints(LINUX, transport=web, insecure=Insecure.HTTP)
    assert len(attempts) == 1
    assert str(attempts[0].error) == (
        "https://example.com/myapp?ac-discovery=1: expected status 200, got 404; "
        "http://example.com/myapp?ac-discovery=1: expected status 200, got 404"
    )


def test_redirects_are_honoured_through_final_url() -> None:
    moved = Response(200, "https://pages.example.net/discovery.html", html(ACI_TAG).encode())
    endpoints, _ = discover_aci_endpoints(LINUX, transport=FakeWeb({MYAPP: moved}))
    assert len(endpoints) == 1


def test_redirect_to_plain_http_is_refused_without_insecure() -> None:
    downgraded = Response(200, "http://example.com/myapp?ac-discovery=1", html(ACI_TAG).encode())
    web = FakeWeb({MYAPP: downgraded})
    with pytest.raises(DiscoveryError, match=r"redirected to http://example\.com/myapp"):
        discover_aci_endpoints(LINUX, transport=web)
    endpoints, _ = discover_aci_endpoints(LINUX, transport=web, insecure=Insecure.HTTP)
    assert len(endpoints) == 1


def test_redirect_to_another_scheme_is_refused_even_with_insecure() -> None:
    web = FakeWeb({MYAPP: Response(200, "file:///etc/passwd", html(ACI_TAG).encode())})
    with pytest.raises(DiscoveryError, match="expected an https url"):
        discover_aci_endpoints(LINUX, transport=web, insecure=Insecure.HTTP)


def test_transport_errors_become_attempts_not_tracebacks() -> None:
    web = FakeWeb({MYAPP: ConnectionResetError("connection reset by peer"), ROOT: html(ACI_TAG)})
    endpoints, attempts = discover_aci_endpoints(LINUX, transport=web)
    assert len(endpoints) == 1
    assert attempts[0].prefix == "example.com/myapp"
    assert isinstance(attempts[0].error, DiscoveryError)
    assert "connection reset by peer" in str(attempts[0].error)
    assert MYAPP in str(attempts[0].error)


def test_junk_page_is_a_page_without_tags() -> None:
    web = FakeWeb({MYAPP: Response(200, MYAPP, b"\x00\xff<![x]<<meta"), ROOT: html(ACI_TAG)})
    assert len(discover_aci_endpoints(LINUX, transport=web)[0]) == 1


def test_port_goes_on_the_host() -> None:
    assert (
        discovery_url("example.com/a/b", "https", 8443)
        == "https://example.com:8443/a/b?ac-discovery=1"
    )
    assert discovery_url("example.com", "http", None) == "http://example.com?ac-discovery=1"
    web = FakeWeb({})
    with pytest.raises(DiscoveryError):
        discover_aci_endpoints(LINUX, transport=web, port=8443)
    assert web.calls == [
        "https://example.com:8443/myapp?ac-discovery=1",
        "https://example.com:8443?ac-discovery=1",
    ]


def test_bad_port_is_an_error() -> None:
    with pytest.raises(DiscoveryError, match="port 70000"):
        discover_aci_endpoints(LINUX, transport=FakeWeb({}), port=70000)
