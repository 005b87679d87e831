"""The workspace's layering, read from the source with ``ast``: no import cycles, and the apps' one door.

- Within each package, the graph of module imports (module-level and function-level; imports under
  ``if TYPE_CHECKING:`` are left out, they never run) has no cycle.
- The apps (``apps/*/src``) import ``sda_engine`` (the top package only: its facade), ``sda_audio``, their own
  package, the standard library and third-party packages; never ``sda_models``, ``sda_control`` or an engine
  submodule.
- The engine's facade (``sda_engine/__init__.py``) and ``sda_audio``'s lazy ``__init__`` are consistent
  (``__all__``, the lazy map and the ``TYPE_CHECKING`` imports name the same things), every name resolves, and
  ``import sda_engine`` stays cheap (no torch).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {
    "sda_audio": ROOT / "packages/sda-audio/src/sda_audio",
    "sda_models": ROOT / "packages/sda-models/src/sda_models",
    "sda_control": ROOT / "packages/sda-control/src/sda_control",
    "sda_engine": ROOT / "packages/sda-engine/src/sda_engine",
    "sda_cli": ROOT / "apps/cli/src/sda_cli",
    "sda_gradio": ROOT / "apps/gradio/src/sda_gradio",
}
APPS = ("sda_cli", "sda_gradio")
FACADE = SOURCES["sda_engine"] / "__init__.py"


def _modules(package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``package``."""
    src = SOURCES[package]
    out = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST, skip_type_checking: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (functions, methods, try blocks), optionally not under TYPE_CHECKING."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        if skip_type_checking and isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module an ``ImportFrom`` names (resolving ``from . import x``)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imported_modules(path: Path, module: str, skip_type_checking: bool = True) -> Iterator[tuple[int, str]]:
    """``(line, module)`` for each module a file imports (``from pkg import sub`` names ``pkg.sub``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in _import_nodes(tree, skip_type_checking):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        else:
            base = _absolute(node, module, path.name == "__init__.py")
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def _graph(package: str) -> dict[str, set[str]]:
    modules = _modules(package)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for _, target in _imported_modules(path, module):
            while target and target not in modules:  # "pkg.mod.name" -> "pkg.mod"
                target = target.rpartition(".")[0]
            if target and target != module:
                graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_import_graph_sees_function_level_imports(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import hidden\n"
                    "def f():\n    from pkg import sub\n    import other.mod\n")
    found = {name for _, name in _imported_modules(path, "m")}
    assert {"pkg", "pkg.sub", "other.mod"} <= found and "hidden" not in found


@pytest.mark.parametrize("package", sorted(SOURCES))
def test_no_import_cycles_within_a_package(package: str) -> None:
    graph = _graph(package)
    lines = []
    for component in _cycles(graph):
        members = set(component)
        lines.append(" <-> ".join(component) + ": " + "; ".join(
            f"{m} imports {', '.join(sorted(graph[m] & members))}" for m in component))
    assert not lines, "import cycles (imports inside functions count):\n" + "\n".join(lines)


def _facade(path: Path = FACADE) -> tuple[set[str], dict[str, str], dict[str, str], set[str]]:
    """A lazy ``__init__``'s ``__all__``, its lazy map (name -> "module[:attr]"), its TYPE_CHECKING imports
    (name -> "module:attr") and the names it imports eagerly from its own package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exported: set[str] = set()
    lazy: dict[str, str] = {}
    typed: dict[str, str] = {}
    eager: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and target.id == "__all__" and node.value is not None:
                exported = set(ast.literal_eval(node.value))
            if isinstance(target, ast.Name) and target.id == "_LAZY" and node.value is not None:
                lazy = ast.literal_eval(node.value)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sda_"):
            eager.update(alias.asname or alias.name for alias in node.names)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for inner in node.body:
                assert isinstance(inner, ast.ImportFrom) and inner.module, "only 'from x import y' here"
                for alias in inner.names:
                    typed[alias.asname or alias.name] = f"{inner.module}:{alias.name}"
    return exported, lazy, typed, eager


def _app_offenders() -> list[str]:
    exported, _, _, _ = _facade()
    facade = {"sda_engine", "sda_engine.__version__", *(f"sda_engine.{name}" for name in exported)}
    offenders = []
    for app in APPS:
        for module, path in _modules(app).items():
            bad: dict[int, set[str]] = {}
            for line, name in _imported_modules(path, module, skip_type_checking=False):
                top = name.split(".")[0]
                if top.startswith("sda_") and top not in (*APPS, "sda_audio") and name not in facade:
                    bad.setdefault(line, set()).add(name)
            for line, names in sorted(bad.items()):
                shown = sorted(n for n in names if n.rpartition(".")[0] not in names)  # "x" for "from x import y"
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {', '.join(shown)}")
    return offenders


def test_apps_use_only_the_engine_facade_and_sda_audio() -> None:
    offenders = _app_offenders()
    assert not offenders, ("the apps reach past sda_engine's facade (import the name from sda_engine, adding it "
                           "to sda_engine/__init__.py if needed):\n" + "\n".join(offenders))


@pytest.mark.parametrize("package", ["sda_engine", "sda_audio"])
def test_lazy_init_names_agree(package: str) -> None:
    exported, lazy, typed, eager = _facade(SOURCES[package] / "__init__.py")
    assert exported == set(lazy) | eager and set(typed) == set(lazy), {
        "__all__ only": exported - set(lazy) - eager, "not in __all__": (set(lazy) | eager) - exported,
        "TYPE_CHECKING differs": set(typed) ^ set(lazy)}
    for name, target in lazy.items():
        module, _, attribute = target.partition(":")
        assert typed[name] == f"{module}:{attribute or name}", name


def test_every_lazy_name_resolves() -> None:
    import sda_audio
    import sda_engine

    for package in (sda_audio, sda_engine):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
    assert sda_engine.generate.__name__ == "sda_engine.generate"  # the subpackage, never shadowed by a function
    with pytest.raises(AttributeError):
        _ = sda_engine.no_such_name


def test_importing_the_facade_and_the_cli_stays_light() -> None:
    code = ("import sys, sda_engine, sda_cli.main; from sda_engine import ModelLibrary, SdaHome, validate_name; "
            "print(','.join(m for m in ('torch', 'torchaudio', 'gradio', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"importing the facade, the CLI and the store loaded {out}"
