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

#: Every package's layer, lowest first: a package imports only packages of lower layers (and
#: itself), so the direction is total and no two layers import each other.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"appc", "rkt.errors"}),
    frozenset({"rkt", "rkt.jsondoc", "rkt.insecure", "rkt.datadir", "rkt.atomicfile"}),
    frozenset({"rkt.config"}),
    frozenset({"rkt.config_merge", "rkt.linux"}),
    frozenset({"rkt.store", "rkt.trust", "rkt.pod"}),
    frozenset({"rkt.fetch", "rkt.net", "rkt.metadata"}),
    frozenset({"rkt.stage1"}),
    frozenset({"rkt.stage0", "rkt.api"}),
    frozenset({"rkt.cli"}),
)
#: (importing package, imported package) -> why it may not
RULES: dict[tuple[str, str], str] = {
    ("rkt.cli", "rkt.linux"): "the CLI parses; kernel work is stage0's or stage1's",
    ("rkt.cli", "rkt.stage1"): "the CLI reaches stage1 only through stage0",
    ("rkt.cli", "rkt.net"): "the CLI reaches networks only through stage0",
    ("rkt.pod", "rkt.stage1"): "pod directories are below stage1, not above it",
}
#: packages that may import nothing of rkt or appc but these. rkt.linux may use appc, the
#: standalone library (not rkt's): the capability table is the appc schema's and the kernel's.
CLOSED: dict[str, frozenset[str]] = {
    "rkt.linux": frozenset({"rkt.errors", "rkt.linux", "appc"}),
    "appc": frozenset({"appc"}),
}
#: (importing package, imported package) -> the only module of it that may be imported
THROUGH: dict[tuple[str, str], str] = {
    ("rkt.stage0", "rkt.stage1"): "rkt.stage1.interface",
}
#: imported package -> the only packages that may import it: stage0 is the only orchestrator,
#: and nothing else starts (or reads into) stage1
ONLY_FROM: dict[str, frozenset[str]] = {
    "rkt.stage1": frozenset({"rkt.stage0", "rkt.stage1"}),
}
#: imports that break a rule today; none are left (kept so that a known, documented
#: exception has one place to go while it is being moved)
KNOWN: set[tuple[str, str]] = set()


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[0] if parts[0] == "appc" else ".".join(parts[:2])


def _modules() -> dict[str, ast.Module]:
    found = {}
    for path in SRC.rglob("*.py"):
        module = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        found[module] = ast.parse(path.read_text(), str(path))
    return found


def _imported(modules: dict[str, ast.Module]) -> set[tuple[str, str]]:
    """(importing module, imported module) for every absolute import of rkt or appc; ``from
    P import name`` counts as importing ``P.name`` when that is a module."""
    found = set()
    for module, tree in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [
                    f"{node.module}.{alias.name}"
                    if f"{node.module}.{alias.name}" in modules
                    else node.module
                    for alias in node.names
                ]
            else:
                continue
            for name in names:
                if name.split(".")[0] in ("rkt", "appc"):
                    found.add((module, name))
    return found


def _imports() -> set[tuple[str, str]]:
    """(importing module, imported package)."""
    return {(module, _package(name)) for module, name in _imported(_modules())}


def _layer(package: str) -> int:
    for number, members in enumerate(LAYERS):
        if package in members:
            return number
    raise AssertionError(f"{package} has no layer in LAYERS: give it one")


def _violations() -> set[tuple[str, str]]:
    bad = set()
    for module, name in _imported(_modules()):
        source, target = _package(module), _package(name)
        if target == source:
            continue
        if _layer(target) >= _layer(source):
            bad.add((module, target))
        if (source, target) in RULES:
            bad.add((module, target))
        allowed = CLOSED.get(source)
        if allowed is not None and target not in allowed:
            bad.add((module, target))
        through = THROUGH.get((source, target))
        if through is not None and name != through:
            bad.add((module, name))
        importers = ONLY_FROM.get(target)
        if importers is not None and source not in importers:
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


def test_every_package_has_a_layer() -> None:
    packages = {_package(module) for module in _modules()}
    assert sorted(p for p in packages if not any(p in layer for layer in LAYERS)) == []


def test_the_reader_sees_imports_inside_functions() -> None:
    # rkt.cli.stop imports stage0 lazily, inside its run(): the rules must still see it.
    assert ("rkt.cli.stop", "rkt.stage0") in _imports()


def test_the_reader_sees_modules_imported_from_packages() -> None:
    # stage0's ``from rkt.stage1 import interface`` is an import of the interface module.
    assert ("rkt.stage0.gc", "rkt.stage1.interface") in _imported(_modules())
