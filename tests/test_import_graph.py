"""The package's import graph has no circle: every import, lazy ones inside functions too, read
from the sources. Plug-ins are found by the name they register (benchmark/plugins.py), so no
package imports the modules that import it."""

from benchmark.code_digest import PACKAGE, project_imports


def import_graph() -> dict[str, set[str]]:
    def name(path):
        return path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", ".")

    graph = {}
    for path in PACKAGE.rglob("*.py"):
        if "conf" in path.relative_to(PACKAGE).parts:
            continue
        # `import benchmark.x.y` also runs benchmark/x/__init__: count the edge to the module only
        graph[name(path).removesuffix(".__init__")] = {
            name(p).removesuffix(".__init__") for p in project_imports(path) if p != path
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_import_graph_has_no_circle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
