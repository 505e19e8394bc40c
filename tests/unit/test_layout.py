"""The library's shape: one home per concern, dependencies one way, no cycles, no Streamlit.

Every import counts, the ones inside functions too, read from the source with `ast`.
"""
import ast

from helpers import ROOT

PACKAGE = ROOT / "cifar_tf"
# Lowest first: a module may import from its own layer and the ones before it, never after. A run's
# settings (training.config: TrainConfig and its limits) are the words every layer above the models
# speaks, run records included, so that module is a layer of its own below runs.
LAYERS = ["cifar_tf", "validation", "settings", "hardware", "data", "models", "training.config", "runs",
          "evaluation", "training",
          "classroom", "search", "labs", "views", "bench", "cli", "__main__"]
MAX_LINES = 450


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path):
    """The cifar_tf modules `path` imports, anywhere in it."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("cifar_tf")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if not base.startswith("cifar_tf"):
                continue
            for alias in node.names:  # `from . import store` imports the module cifar_tf.runs.store
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return found - {name}


FILES = sorted(PACKAGE.rglob("*.py"))
MODULES = {module_name(path) for path in FILES}
GRAPH = {module_name(path): imports(path) for path in FILES}


def layer(module):
    parts = module.split(".")
    own = ".".join(parts[1:3])   # a module that is a layer of its own, such as training.config
    return LAYERS.index(own if own in LAYERS else parts[1] if len(parts) > 1 else parts[0])


def test_every_import_is_a_module_of_the_library():
    for module, targets in GRAPH.items():
        assert targets <= MODULES, (module, targets - MODULES)


def test_no_import_cycle():
    done, path = set(), []

    def visit(module):
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        path.append(module)
        for target in GRAPH[module]:
            if not target.startswith(module + "."):  # a package's __init__ may name its own modules
                visit(target)
        path.pop()
        done.add(module)

    for module in GRAPH:
        visit(module)


def test_dependencies_run_one_way():
    wrong = [(module, target) for module, targets in GRAPH.items() for target in targets
             if layer(target) > layer(module)]
    assert not wrong, wrong


def test_one_home_per_concern_in_small_modules():
    subpackages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert {"data", "models", "training", "runs", "evaluation", "classroom", "search", "labs", "views", "cli",
            "bench"} <= subpackages
    assert {p.name for p in PACKAGE.glob("*.py")} == {"__init__.py", "__main__.py", "settings.py", "validation.py",
                                                      "hardware.py"}
    long = {module_name(p): n for p in FILES if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_nothing_in_the_library_runs_streamlit():
    """Pages lay out the library's pieces; the library itself never imports Streamlit. The one
    exception is the benchmark's client, which speaks Streamlit's wire format to a real server."""
    for path in FILES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        names += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
        streamlit = [n for n in names if n == "streamlit" or n.startswith("streamlit.")]
        if module_name(path) == "cifar_tf.bench.app_client":
            assert all(n.startswith("streamlit.proto.") for n in streamlit), streamlit
        else:
            assert not streamlit, (module_name(path), streamlit)


def test_environment_variables_are_read_in_settings_only():
    readers = []
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        if module_name(path) != "cifar_tf.settings" and ("os.environ.get(" in text or "os.getenv(" in text
                                                          or "os.environ[" in text):
            readers.append(module_name(path))
    assert not readers, readers


def test_pages_are_small_and_import_no_private_names():
    for path in (ROOT / "pages").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        private = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                   for alias in node.names if alias.name.startswith("_")]
        assert not private, (path.name, private)
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 300, path.name
