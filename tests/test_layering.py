"""The package's import graph has no cycles: every import (at module level, inside functions
and under TYPE_CHECKING alike) points one way, so the layering the code claims is real."""
import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "src" / "modecollapse"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports (a package means its __init__)."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in paths}
    for mod, path in paths.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".")[: len(mod.split(".")) - node.level + (1 if is_pkg else 0)]
                    base = ".".join(base + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                # `from pkg import sub` imports the submodule; `from pkg import name` the package
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            for t in targets:
                while t and t not in paths:  # modecollapse.x.y.name -> the module that exists
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    graph[mod].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "modecollapse.train" in graph["modecollapse.cli_train"] or graph["modecollapse.cli_train"]
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_checker_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_leaf_modules_import_nothing_of_the_package():
    """The IDX reader, the atomic writer and the image reader are leaves both sides use."""
    graph = import_graph()
    for leaf in ("modecollapse.idx", "modecollapse.fileio", "modecollapse.errors"):
        assert graph[leaf] <= {"modecollapse.errors"}, (leaf, graph[leaf])
    assert "modecollapse.idx" in graph["modecollapse.classifier"] & graph["modecollapse.data.mnist"]
