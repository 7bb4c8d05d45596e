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


# The two processes and the results, in layers: a module may import its own layer and those below.
# The worker (child) and the results never import the sweep (parent); the results never import the
# worker; the shared foundation (config, plug-ins, measure, models, data, backends) imports none.
FOUNDATION = ("config", "plugins", "code_digest", "cache", "measure", "models", "data", "backends")
MAY_NOT_IMPORT = {
    **{part: ("sweep", "worker", "results") for part in FOUNDATION},
    "worker": ("sweep", "results"),
    "results": ("sweep", "worker"),
}


def layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} -> {target}"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if layer(target) in MAY_NOT_IMPORT.get(layer(module), ())
    ]


def test_no_import_runs_back_up_a_layer():
    assert upward_imports(import_graph()) == []


def test_the_layer_check_sees_a_worker_importing_the_sweep():
    graph = {"benchmark.worker.run": {"benchmark.sweep.job", "benchmark.measure.latency"}}
    assert upward_imports(graph) == ["benchmark.worker.run -> benchmark.sweep.job"]


def test_the_tree_names_the_two_processes_and_the_results():
    top = sorted(p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists())
    assert {"sweep", "worker", "results", "measure", "models", "data", "backends"} <= set(top)
    # besides the packages: the entry point, shared foundation and the old commands' forwarders
    assert {p for p in top if p.endswith(".py")} == {
        "__init__.py",
        "__main__.py",
        "cache.py",
        "code_digest.py",
        "config.py",
        "plugins.py",
        "report.py",
        "server.py",
        "sync.py",
    }
