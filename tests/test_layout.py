"""The package's layout: each layer imports only the layers the README lists above it, no import cycle
between posekit's modules, no module past 500 lines."""
import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "posekit"
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def runtime_imports(path: Path) -> set[str]:
    """posekit modules that ``path`` imports when it runs (at its top or inside functions; not in
    ``if TYPE_CHECKING:`` blocks, which only annotations read)."""
    tree = ast.parse(path.read_text())
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("posekit"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("posekit") and not node.level:
            for alias in node.names:  # `from posekit.body import skeleton` imports a module
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in MODULES else node.module)
    return {m for m in out if m in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_itself_back_through_others():
    graph = {name: runtime_imports(path) - {name} for name, path in MODULES.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


def readme_layers() -> tuple[list[str], set[str]]:
    """The layers of the README's package map, top first (``body``, ..., ``cli``), and the shared modules."""
    readme = (PACKAGE.parent / "README.md").read_text()
    block = readme[readme.index("## The package"):readme.index("Each layer imports")]
    layers = re.findall(r"^  ([a-z_]+)(?:/|\.py)\s", block, re.M)
    shared_text = block[block.index("  shared:"):]
    return layers, set(re.findall(r"([a-z_]+)\.py", shared_text))


def layer_of(module: str, layers: list[str], shared: set[str]) -> int | None:
    """The layer index of ``posekit.<first>...`` (-1: a shared module; None: the package's own root)."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    if parts[1] in shared:
        return -1
    return layers.index(parts[1]) if parts[1] in layers else None


def upward_imports(graph: dict[str, set[str]], layers: list[str], shared: set[str]) -> list[str]:
    """Every import of ``graph`` (module -> modules it imports) from a layer to one listed below it, or
    from a shared module to any layer."""
    found = []
    for module, imports in sorted(graph.items()):
        mine = layer_of(module, layers, shared)
        if mine is None:
            continue
        for other in sorted(imports):
            theirs = layer_of(other, layers, shared)
            if theirs is not None and (theirs > mine or (mine == -1 and theirs != -1)):
                found.append(f"{module} imports {other}")
    return found


def test_each_layer_imports_only_the_layers_above_it():
    layers, shared = readme_layers()
    assert layers[:3] == ["body", "language", "corpus"] and layers[-1] == "cli" and {"paths", "files"} <= shared
    unplaced = sorted({m.split(".")[1] for m in MODULES if "." in m and m.split(".")[1] not in {*layers, *shared,
                                                                                               "__main__"}})
    assert not unplaced, f"modules the README's map does not place in a layer: {unplaced}"
    graph = {name: runtime_imports(path) - {name} for name, path in MODULES.items()}
    wrong = upward_imports(graph, layers, shared)
    assert not wrong, "imports from a layer to one below it: " + "; ".join(wrong)


def test_the_layer_check_finds_an_upward_import():
    layers, shared = ["body", "models", "cli"], {"files"}
    fine = {"posekit.cli.a": {"posekit.models.b", "posekit.files"}, "posekit.models.b": {"posekit.body.c"},
            "posekit.files": set()}
    assert upward_imports(fine, layers, shared) == []
    planted = {**fine, "posekit.body.c": {"posekit.models.b"}, "posekit.files": {"posekit.body.c"}}
    assert upward_imports(planted, layers, shared) == ["posekit.body.c imports posekit.models.b",
                                                       "posekit.files imports posekit.body.c"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_past_500_lines(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines: split it by job"
