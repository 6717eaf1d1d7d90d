"""Isolators of ace.md with typed values, and resource quantities."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from appc.errors import ValidationError
from appc.schema import linux, resource
from appc.schema.isolator import by_name, known_names, parse_isolators
from appc.schema.quantity import Quantity


def iso(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "value": value}


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("500m", Fraction(1, 2)),
        ("1G", 10**9),
        ("16Mi", 16 * 2**20),
        ("1.5Gi", 3 * 2**29),
        ("1e3", 1000),
        ("2E-1", Fraction(1, 5)),
        ("0.3", Fraction(3, 10)),
        ("+7k", 7000),
        ("-1", -1),
        ("0", 0),
        (".5", Fraction(1, 2)),
        ("123Mi", 128974848),
        ("125952Ki", 128974848),
    ],
)
def test_quantity_parse(text: str, amount: Fraction | int) -> None:
    assert Quantity.parse(text).amount == amount


def test_quantity_rounding_and_numbers() -> None:
    assert Quantity.parse("1.5").value() == 2
    assert Quantity.parse("0.0005").milli_value() == 1
    assert Quantity.parse(2).value() == 2  # a bare JSON number, as the reference allows


@pytest.mark.parametrize("text", ["", "1X", "1K", "Gi", "1 G", "1..2", "1e", "abc", "1Gii"])
def test_quantity_invalid(text: str) -> None:
    with pytest.raises(ValidationError, match="quantity"):
        Quantity.parse(text, "limit")


def test_every_ace_isolator_is_typed() -> None:
    isolators = parse_isolators(
        [
            iso("resource/cpu", {"request": "250m", "limit": "500m"}),
            iso("resource/memory", {"limit": "1G"}),
            iso("resource/block-bandwidth", {"default": True, "limit": "1M"}),
            iso("resource/block-iops", {"default": True, "limit": 1000}),
            iso("resource/network-bandwidth", {"default": True, "limit": "1G"}),
            iso("os/linux/capabilities-retain-set", {"set": ["CAP_NET_ADMIN"]}),
            iso("os/linux/no-new-privileges", True),
            iso("os/linux/seccomp-remove-set", {"set": ["@appc.io/empty"], "errno": "EPERM"}),
            iso(
                "os/linux/selinux-context",
                {"user": "u", "role": "r", "type": "t", "level": "s0:c1"},
            ),
            iso("os/linux/oom-score-adj", -500),
            iso("os/linux/cpu-shares", 512),
            iso("os/unix/sysctl", {"net.ipv4.ip_forward": "1"}),
            iso("example.com/unknown", {"anything": [1, 2]}),
        ],
        "isolators",
    )
    cpu = isolators[0].value
    assert isinstance(cpu, resource.Resource) and cpu.limit is not None
    assert cpu.limit.milli_value() == 500
    assert isinstance(isolators[5].value, linux.CapabilitiesSet)
    assert isolators[6].value == linux.NoNewPrivileges(True)
    seccomp = isolators[7].value
    assert isinstance(seccomp, linux.SeccompSet) and seccomp.errno == "EPERM"
    assert str(isolators[8].value) == "u:r:t:s0:c1"
    assert isolators[9].value == linux.OOMScoreAdj(-500)
    assert isolators[10].value == linux.CPUShares(512)
    assert isolators[11].value == linux.Sysctl((("net.ipv4.ip_forward", "1"),))
    # Unknown isolators are kept with their value, not dropped.
    assert isolators[12].value is None and isolators[12].raw == {"anything": [1, 2]}
    assert isolators[12].to_json() == iso("example.com/unknown", {"anything": [1, 2]})
    assert "resource/cpu" in known_names()
    assert by_name(isolators, "os/linux/cpu-shares") is isolators[10]


@pytest.mark.parametrize(
    ("isolators", "message"),
    [
        ([iso("resource/cpu", {"default": True, "limit": "1"})], "default must be false"),
        ([iso("resource/memory", {"limit": "1X"})], "quantity"),
        ([iso("resource/block-bandwidth", {"limit": "1M"})], "default must be true"),
        ([iso("resource/block-iops", {"default": True, "request": "1", "limit": "2"})], "request"),
        ([iso("os/linux/capabilities-remove-set", {"set": []})], "set must not be empty"),
        ([iso("os/linux/no-new-privileges", "yes")], "true or false"),
        ([iso("os/linux/seccomp-retain-set", {"set": ["read"], "errno": "eperm"})], "errno"),
        (
            [
                iso("os/linux/seccomp-retain-set", {"set": ["read"]}),
                iso("os/linux/seccomp-retain-set", {"set": ["write"]}),
            ],
            "only once",
        ),
        (
            [
                iso("os/linux/seccomp-retain-set", {"set": ["read"]}),
                iso("os/linux/seccomp-remove-set", {"set": ["write"]}),
            ],
            "cannot be used together",
        ),
        (
            [
                iso("os/linux/capabilities-retain-set", {"set": ["CAP_KILL"]}),
                iso("os/linux/capabilities-remove-set", {"set": ["CAP_CHOWN"]}),
            ],
            "cannot be used together",
        ),
        (
            [
                iso(
                    "os/linux/selinux-context",
                    {"user": "u:x", "role": "r", "type": "t", "level": "s0"},
                )
            ],
            "user",
        ),
        ([iso("os/linux/selinux-context", {"user": "u", "role": "r", "type": "t"})], "level"),
        ([iso("os/linux/oom-score-adj", 1001)], "<= 1000"),
        ([iso("os/linux/cpu-shares", 1)], ">= 2"),
        ([iso("os/linux/cpu-shares", 262145)], "<= 262144"),
        ([iso("os/unix/sysctl", {"a": 1})], "string"),
        ([{"name": "resource/cpu"}], '"value" is required'),
        ([iso("Bad Name", 1)], "AC Identifier"),
    ],
)
def test_isolator_rules(isolators: list[Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        parse_isolators(isolators, "app.isolators")
    assert str(info.value).startswith("app.isolators[")
