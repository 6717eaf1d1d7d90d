"""Discovery template expansion (discovery.md, "Discovery Templates")."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from appc.discovery import ACIEndpoint, render_template
from appc.discovery._template import expand_endpoint

SPEC_TEMPLATE = "https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}"
VALUES = {"name": "example.com/reduce-worker", "version": "1.0.0", "os": "linux", "arch": "amd64"}


def test_spec_example_expands_to_the_spec_urls() -> None:
    assert expand_endpoint(SPEC_TEMPLATE, VALUES.items()) == ACIEndpoint(
        aci="https://storage.example.com/linux/amd64/example.com/reduce-worker-1.0.0.aci",
        asc="https://storage.example.com/linux/amd64/example.com/reduce-worker-1.0.0.aci.asc",
    )


def test_custom_labels_are_placeholders_too() -> None:
    endpoint = expand_endpoint(
        "https://s/{channel}/{name}.{ext}", [("name", "a/b"), ("channel", "beta")]
    )
    assert endpoint == ACIEndpoint("https://s/beta/a/b.aci", "https://s/beta/a/b.aci.asc")


def test_unfilled_placeholder_rejects_the_template() -> None:
    assert expand_endpoint("https://s/{name}-{channel}.{ext}", VALUES.items()) is None
    assert render_template("https://s/{name}-{}", VALUES) is None
    assert render_template("https://s/{{name}}", VALUES) is None


def test_template_without_ext_is_rejected() -> None:
    # discovery.md: templates "must contain {ext}"; otherwise image and signature would coincide.
    assert expand_endpoint("https://s/{name}.aci", VALUES.items()) is None


def test_a_label_called_ext_does_not_override_ext() -> None:
    endpoint = expand_endpoint("https://s/{name}.{ext}", [("name", "a"), ("ext", "tgz")])
    assert endpoint == ACIEndpoint("https://s/a.aci", "https://s/a.aci.asc")


def test_placeholders_repeat_and_lone_braces_stay() -> None:
    assert render_template("{a}{a}-{-}}{", {"a": "x", "-": "y"}) == "xx-y}{"


def test_values_are_inserted_verbatim() -> None:
    assert render_template("{a}/{b}", {"a": "{b}", "b": "1"}) == "{b}/1"


keys = st.from_regex(r"[a-z0-9]+([-._~/][a-z0-9]+){0,2}", fullmatch=True)
literals = st.text(
    st.characters(blacklist_characters="{}", blacklist_categories=["Cs"]), max_size=8
)


@given(st.data(), st.dictionaries(keys, st.text(max_size=12), min_size=1, max_size=5))
def test_every_placeholder_is_replaced_by_exactly_its_value(
    data: st.DataObject, values: dict[str, str]
) -> None:
    names = sorted(values)
    segments = data.draw(st.lists(st.tuples(literals, st.sampled_from(names)), max_size=6))
    tail = data.draw(literals)
    template = "".join(f"{text}{{{key}}}" for text, key in segments) + tail
    expected = "".join(text + values[key] for text, key in segments) + tail
    assert render_template(template, values) == expected


@given(st.dictionaries(keys, st.text(max_size=12), max_size=5), keys)
def test_a_missing_key_always_rejects(values: dict[str, str], key: str) -> None:
    values.pop(key, None)
    assert render_template(f"https://s/{{{key}}}", values) is None
