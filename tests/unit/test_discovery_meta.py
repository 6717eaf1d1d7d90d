"""Reading ac- meta tags out of discovery pages, however broken the HTML."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from appc.discovery._meta import ACMeta, parse_meta


def metas(html: str | bytes) -> list[tuple[str, str, str]]:
    body = html.encode() if isinstance(html, str) else html
    return [(m.name, m.prefix, m.uri) for m in parse_meta(body)]


def test_reads_tags_in_document_order() -> None:
    page = """<!DOCTYPE html><html><head><title>x</title>
    <meta name="ac-discovery" content="example.com https://a/{name}.{ext}">
    <meta name="ac-discovery-pubkeys" content="example.com https://example.com/pubkeys.gpg">
    <meta name="ac-discovery" content="example.com hdfs://b/{name}.{ext}">
    </head><body></body></html>"""
    assert parse_meta(page.encode()) == [
        ACMeta("ac-discovery", "example.com", "https://a/{name}.{ext}"),
        ACMeta("ac-discovery-pubkeys", "example.com", "https://example.com/pubkeys.gpg"),
        ACMeta("ac-discovery", "example.com", "hdfs://b/{name}.{ext}"),
    ]


def test_tags_anywhere_and_in_any_spelling() -> None:
    page = """<body><div><META NAME="ac-discovery" CONTENT="a x">
    <meta content='b y' name='ac-discovery'/>
    <p><meta name=ac-discovery content="c	z">
    <meta name="ac-discovery" content="  d
        w  ">"""
    assert metas(page) == [
        ("ac-discovery", "a", "x"),
        ("ac-discovery", "b", "y"),
        ("ac-discovery", "c", "z"),
        ("ac-discovery", "d", "w"),
    ]


def test_entities_in_content_are_decoded() -> None:
    page = '<meta name="ac-discovery" content="e https://s/{name}.{ext}?a=1&amp;b=2">'
    assert metas(page) == [("ac-discovery", "e", "https://s/{name}.{ext}?a=1&b=2")]


def test_incomplete_and_foreign_tags_are_skipped() -> None:
    page = """<meta name="ac-discovery" content="prefix-only">
    <meta name="ac-discovery">
    <meta content="a b">
    <meta name="description" content="a b">
    <link name="ac-discovery" content="a b">
    <script>document.write('<meta name="ac-discovery" content="s t">')</script>
    <!-- <meta name="ac-discovery" content="c d"> -->
    <meta name="ac-other" content="p u">"""
    # Like the reference, any "ac-" name is collected; the walk uses only the two it knows.
    assert metas(page) == [("ac-other", "p", "u")]


def test_repeated_attribute_takes_the_last_value() -> None:
    assert metas('<meta name="x" name="ac-discovery" content="a b">') == [
        ("ac-discovery", "a", "b")
    ]


def test_junk_before_tags_does_not_hide_them() -> None:
    page = b'\xff\xfe<![foo]> <<<>>> a < b </> <meta name="ac-discovery" content="a b">'
    assert metas(page) == [("ac-discovery", "a", "b")]


def test_unterminated_markup_yields_what_came_before() -> None:
    assert metas('<meta name=ac-discovery content="a b"><meta name="ac-discovery" content="c') == [
        ("ac-discovery", "a", "b")
    ]


@given(st.binary(max_size=300))
def test_any_bytes_parse_without_error(body: bytes) -> None:
    assert isinstance(parse_meta(body), list)


markup = st.lists(
    st.sampled_from(
        [
            "<",
            ">",
            "<!",
            "<![",
            "]",
            "[",
            "--",
            "<meta",
            " name=",
            "ac-discovery",
            '"',
            "'",
            " content=",
            "a b",
            "/>",
            "<script>",
            "</script>",
            "&",
            ";",
            "\n",
        ]
    ),
    max_size=40,
).map("".join)


@given(markup)
def test_markup_soup_parses_without_error(page: str) -> None:
    assert isinstance(parse_meta(page.encode()), list)
