"""The architecture, checked from the imports: arrows point down the layers written in the
documentation's Design page (docs/design.md), and no two modules or packages import each other in
a circle."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

import lesrcnn_deploy

ROOT = Path(__file__).resolve().parents[1]
PKG = "lesrcnn_deploy"
MAX_LINES = 500


def layers_from_readme() -> list[list[str]]:
    """The ``Layers`` block of the Design page: one line per layer, bottom first."""
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- layers:start -->\n```\n(.*?)```\n<!-- layers:end -->", design, re.S)
    assert block, "docs/design.md has no layers block"
    layers = []
    for line in block.group(1).splitlines():
        names = line.split("  ", 1)[0].split()
        layers.append([n.rstrip("/").removesuffix(".py") for n in names])
    return layers


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking_blocks(tree: ast.AST) -> set[ast.AST]:
    """The nodes under ``if TYPE_CHECKING:`` (imports for type checkers, never run)."""
    return {
        inner
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for stmt in node.body
        for inner in ast.walk(stmt)
    }


def imports_of(path: Path, *, typing_only: bool = True) -> set[str]:
    """Absolute names of the lesrcnn_deploy modules/packages ``path`` imports (any scope;
    without those under ``if TYPE_CHECKING:`` when ``typing_only`` is False)."""
    mod = module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set() if typing_only else _type_checking_blocks(tree)
    for node in ast.walk(tree):
        if node in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PKG:
                continue
            for alias in node.names:  # `from . import module` imports the module itself
                sub = f"{target}.{alias.name}"
                is_mod = (ROOT / (sub.replace(".", "/") + ".py")).is_file()
                is_pkg = (ROOT / sub.replace(".", "/") / "__init__.py").is_file()
                out.add(sub if is_mod or is_pkg else target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == PKG)
    out.discard(mod)
    return out


def graph() -> dict[str, set[str]]:
    """Module -> what it imports. The package root's ``if TYPE_CHECKING:`` imports are left out:
    they name its lazy re-exports (``from lesrcnn_deploy import Upscaler``, loaded on first use by
    its ``__getattr__``), which the root never imports when it is imported."""
    return {
        module_name(p): imports_of(p, typing_only=p != ROOT / PKG / "__init__.py")
        for p in sorted((ROOT / PKG).rglob("*.py"))
        if "recipes" not in p.parts
    }


def unit(module: str) -> str:
    """The layer unit of a module: its top-level package or module under lesrcnn_deploy."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def test_readme_layers_name_every_package_and_module() -> None:
    named = {n for layer in layers_from_readme() for n in layer}
    units = {unit(m) for m in graph()} - {""}
    assert units - named == set(), f"not in a layer of docs/design.md: {sorted(units - named)}"
    assert named - units == set(), f"docs/design.md names what does not exist: {named - units}"


def test_imports_point_down_only() -> None:
    rank = {n: i for i, layer in enumerate(layers_from_readme()) for n in layer}
    rank[""] = -1  # the package root holds __version__ (and lazy re-exports, loaded on use)
    up = [
        f"{src} -> {dst}"
        for src, dsts in graph().items()
        for dst in dsts
        if unit(src) != unit(dst) and rank[unit(dst)] >= rank[unit(src)]
    ]
    assert up == [], "imports that run up or sideways:\n" + "\n".join(sorted(up))


def test_root_package_imports_nothing() -> None:
    assert graph()[PKG] == set()
    # at run time: tests/test_packaging.py::test_lazy_root_help_and_data_readers_import_no_torch
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = lesrcnn_deploy.Nope  # type: ignore[attr-defined]
    assert (ROOT / PKG / "py.typed").is_file()


def test_no_cycles_between_modules_or_packages() -> None:
    edges = graph()
    # A package's __init__ re-exports its modules; an arrow *into* a package from outside means
    # its __init__, but an arrow from a module to its own package's __init__ is a re-export read.
    modules = {src: {d for d in dsts if not src.startswith(d + ".")} for src, dsts in edges.items()}
    assert cycles(modules) == []
    packages: dict[str, set[str]] = defaultdict(set)
    for src, dsts in edges.items():
        packages[unit(src)].update(unit(d) for d in dsts if unit(d) != unit(src))
    assert cycles(packages) == []


def test_no_module_over_500_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / PKG).rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a module importing a higher layer is found."""
    src = tmp_path / PKG / "core" / "bad.py"
    src.parent.mkdir(parents=True)
    src.write_text("from ..cli import main\nfrom . import errors\n", encoding="utf-8")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        (tmp_path / PKG / "cli").mkdir()
        (tmp_path / PKG / "cli" / "__init__.py").write_text("", encoding="utf-8")
        (tmp_path / PKG / "core" / "errors.py").write_text("", encoding="utf-8")
        assert imports_of(src) == {f"{PKG}.cli", f"{PKG}.core.errors"}
    finally:
        ROOT = saved
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_public_functions_take_at_most_two_positional_arguments() -> None:
    """The house rule: two positional arguments at most, then keyword-only (methods: besides
    ``self``). Nested functions (callbacks with a signature fixed by a library) are left out."""
    offenders = []
    for path in sorted((ROOT / PKG).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        scopes: list[tuple[str, ast.AST]] = [("", n) for n in tree.body]
        scopes += [
            (cls.name, n)
            for cls in tree.body
            if isinstance(cls, ast.ClassDef) and not cls.name.startswith("_")
            for n in cls.body
        ]
        for owner, node in scopes:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name.startswith("_") and node.name != "__init__":
                continue
            args = [a.arg for a in node.args.posonlyargs + node.args.args]
            if owner and args[:1] in (["self"], ["cls"]):
                args = args[1:]
            if len(args) > 2:
                offenders.append(f"{module_name(path)}:{node.lineno} {node.name}{tuple(args)}")
    assert offenders == []
