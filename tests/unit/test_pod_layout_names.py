"""Each file name of the pod directory is spelled in one module of src/: rkt.pod.layout.

Every other module names them through it, so that stage0, stage1 and the readers of pods
(status, logs, gc, the API) cannot drift apart. Read from the source: a string constant equal to
one of layout's names fails the test wherever it stands, except for the few names that are
also ordinary words elsewhere ("pid" is also a namespace, "pod" a URL segment and a cgroup key,
"netns" a field of CNI's cache); those fail only where a path is built from them (``x / "pid"``,
``os.path.join(x, "pid")``).
"""

from __future__ import annotations

import ast
from pathlib import Path

from rkt.pod import layout

SRC = Path(__file__).resolve().parents[2] / "src"
LAYOUT = SRC / "rkt/pod/layout.py"
#: names that are also words with other meanings in the code
WORDS = frozenset({layout.PID, layout.MANIFEST, layout.NETNS})
#: fragments of the names layout builds in functions (app_root, app_tree_id, status_dir, ...)
FRAGMENTS = ("treeStoreID", "opt/stage2", "rkt/status", "supervisor-status", "overlay/")


def _names() -> set[str]:
    return {
        value
        for key, value in vars(layout).items()
        if key.isupper() and isinstance(value, str) and len(value) > 2
    }


def _path_operands(tree: ast.AST) -> set[int]:
    """ids of the constants a path is built from: ``a / "x"`` and ``os.path.join(a, "x")``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            found.add(id(node.right))
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.path.join", "join"):
            found.update(id(arg) for arg in node.args[1:])
    return found


def _spelled_outside_layout() -> list[str]:
    names = _names()
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path == LAYOUT:
            continue
        tree = ast.parse(path.read_text(), str(path))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        in_paths = _path_operands(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            if id(node) in docstrings:
                continue
            value = node.value
            where = f"{path.relative_to(SRC)}:{node.lineno} {value!r}"
            if (value in names and (value not in WORDS or id(node) in in_paths)) or any(
                fragment in value for fragment in FRAGMENTS
            ):
                found.append(where)
    return found


def test_each_pod_file_name_is_spelled_only_in_layout() -> None:
    assert _spelled_outside_layout() == []


def test_the_reader_finds_a_name_spelled_elsewhere() -> None:
    sample = ast.parse('OPTIONS = "stage1/options.json"\nx = pod_dir / "pid"\ny = ("pid", 1)\n')
    constants = [n for n in ast.walk(sample) if isinstance(n, ast.Constant)]
    in_paths = _path_operands(sample)
    assert "stage1/options.json" in _names()
    assert [c.value for c in constants if id(c) in in_paths] == ["pid"]
