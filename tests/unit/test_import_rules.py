"""The direction of dependencies between the packages (docs/architecture.md), read from every
import statement of src/ (also those inside functions): the CLI parses and calls the layers
below it, ``rkt.linux`` knows no pods, ``appc`` knows nothing of rkt.

KNOWN lists the imports that break a rule today, each to be moved behind the layer that owns
it; the test fails on any other, and on a known one that is gone (so the list only shrinks).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

#: (importing package, imported package) -> why it may not
RULES: dict[tuple[str, str], str] = {
    ("rkt.cli", "rkt.linux"): "the CLI parses; kernel work is stage0's or stage1's",
    ("rkt.cli", "rkt.stage1"): "the CLI reaches stage1 only through stage0",
    ("rkt.cli", "rkt.net"): "the CLI reaches networks only through stage0",
    ("rkt.pod", "rkt.stage1"): "pod directories are below stage1, not above it",
}
#: packages that may import nothing of rkt but these
CLOSED: dict[str, frozenset[str]] = {
    "rkt.linux": frozenset({"rkt.errors", "rkt.linux"}),
    "appc": frozenset({"appc"}),
}
KNOWN = {
    ("rkt.cli.attach", "rkt.linux"),
    ("rkt.cli.pod_status", "rkt.linux"),
    ("rkt.cli.run", "rkt.linux"),
    ("rkt.cli.run_prepared", "rkt.linux"),
    ("rkt.cli.prepare", "rkt.net"),
    ("rkt.cli.enter", "rkt.stage1"),
    ("rkt.cli.stop", "rkt.stage1"),
    ("rkt.linux.capability", "appc"),
    ("rkt.pod.gc", "rkt.stage1"),
}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[0] if parts[0] == "appc" else ".".join(parts[:2])


def _imports() -> set[tuple[str, str]]:
    """(importing module, imported package) for every absolute import of rkt or appc."""
    found = set()
    for path in SRC.rglob("*.py"):
        module = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in ("rkt", "appc"):
                    found.add((module, _package(name)))
    return found


def _violations() -> set[tuple[str, str]]:
    bad = set()
    for module, target in _imports():
        source = _package(module)
        if target == source:
            continue
        if (source, target) in RULES:
            bad.add((module, target))
        allowed = CLOSED.get(source)
        if allowed is not None and target not in allowed:
            bad.add((module, target))
    return bad


def test_no_new_import_breaks_the_layering() -> None:
    new = _violations() - KNOWN
    assert not new, "imports against docs/architecture.md's direction: " + ", ".join(
        f"{module} -> {target}" for module, target in sorted(new)
    )


def test_the_known_exceptions_only_shrink() -> None:
    gone = KNOWN - _violations()
    assert not gone, f"fixed, take them off KNOWN: {sorted(gone)}"


def test_the_reader_sees_imports_inside_functions() -> None:
    # rkt.cli.stop imports stage1 lazily, inside its run(): the rule must still see it.
    assert ("rkt.cli.stop", "rkt.stage1") in _imports()
