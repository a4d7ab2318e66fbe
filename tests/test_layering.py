"""The package's import graph has no cycles (every import: at module level, inside functions
and under TYPE_CHECKING alike), and every runtime import points down the layers of
ARCHITECTURE.md: leaves < shared building blocks < lab, measure < monitor < bench,
diagnostics, scenarios < cli < the package root. Imports under TYPE_CHECKING only name
types in annotations (the building blocks name the lab's TrainConfig) and are exempt from
the direction rule, not from the cycle check."""
import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "src" / "modecollapse"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(*, typing_only: bool = True) -> dict[str, set[str]]:
    """module -> the package's modules it imports (a package means its __init__);
    ``typing_only=False`` leaves out the imports under ``if TYPE_CHECKING:``."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in paths}
    for mod, path in paths.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text())
        skip = set()
        if not typing_only:
            for node in ast.walk(tree):
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                    skip |= {id(n) for b in node.body for n in ast.walk(b)}
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
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
    assert "modecollapse.lab.train" in graph["modecollapse.cli.train"]  # the graph sees function-level imports
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


#: each part's rank; a module may import its own part and parts of a lower rank only
RANKS = {
    "errors": 0, "registry": 0, "fileio": 0, "idx": 0,
    "data": 1, "models": 1, "techniques": 1, "features": 1, "metrics": 1,
    "lab": 2, "measure": 2, "experiments": 2,
    "monitor": 3,
    "bench": 4, "diagnostics": 4, "scenarios": 4,
    "cli": 5,
    "distributed": 6, "__main__": 6,  # the entry points (torchrun's, python -m's)
    "": 0,  # the package root: __version__ and names it imports from the parts on first use only
}
#: within a rank only in this order (the classifier in models/ counts data's modes; the
#: leaves all raise errors' ConfigError), so that parts of one rank form no cycle
ORDER = {0: ("errors", "registry", "fileio", "idx", ""), 1: ("models", "data", "techniques", "features", "metrics")}


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def direction_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, targets in graph.items():
        a = part_of(mod)
        for t in targets:
            b = part_of(t)
            if a == b:
                continue
            same = RANKS[a] == RANKS[b]
            if RANKS[b] > RANKS[a] or (same and (RANKS[a] not in ORDER or ORDER[RANKS[a]].index(b) > ORDER[RANKS[a]].index(a))):
                bad.append(f"{mod} -> {t}")
    return sorted(bad)


def test_every_part_is_a_folder_and_the_root_holds_at_most_8_modules():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= 8, root
    for part in ("lab", "measure", "monitor", "bench", "diagnostics", "scenarios", "cli"):
        init = PACKAGE / part / "__init__.py"
        assert init.exists() and ast.get_docstring(ast.parse(init.read_text())), part
    assert set(RANKS) >= {part_of(m) for m in import_graph()}


def test_imports_point_down_the_layers():
    bad = direction_violations(import_graph(typing_only=False))
    assert not bad, "imports from a lower part into a higher one:\n" + "\n".join(bad)


@pytest.mark.parametrize("edge", [("modecollapse.lab.train", "modecollapse.cli.train"),
                                  ("modecollapse.metrics.fid", "modecollapse.lab.config"),
                                  ("modecollapse.lab.train", "modecollapse.monitor.core"),
                                  ("modecollapse.lab.train", "modecollapse.measure.core"),
                                  ("modecollapse.data.base", "modecollapse.metrics.fid")])
def test_the_direction_check_finds_an_upward_import(edge):
    a, b = edge
    assert direction_violations({a: {b}, b: set()}) == [f"{a} -> {b}"]


def test_the_checker_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_leaf_modules_import_nothing_of_the_package():
    """The IDX reader, the atomic writer and the image reader are leaves both sides use."""
    graph = import_graph()
    for leaf in ("modecollapse.idx", "modecollapse.fileio", "modecollapse.errors"):
        assert graph[leaf] <= {"modecollapse.errors"}, (leaf, graph[leaf])
    assert "modecollapse.idx" in graph["modecollapse.models.classifier"] & graph["modecollapse.data.mnist"]
