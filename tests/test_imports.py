"""Importing the package changes no global state (warning filters stay as they were), and
imports flow one way: no module imports one of a higher layer."""

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# argv[1]: JSON list of modules to import first. Prints a JSON report.
SCRIPT = textwrap.dedent(
    """
    import importlib, inspect, json, pkgutil, sys, warnings

    # Who installs a filter: a call from a file of the package is a failure, whatever
    # third-party imports do to the filters on their own.
    callers = []
    for name in ("filterwarnings", "simplefilter", "resetwarnings"):
        original = getattr(warnings, name)

        def spy(*args, _original=original, **kwargs):
            callers.append(inspect.currentframe().f_back.f_code.co_filename)
            return _original(*args, **kwargs)

        setattr(warnings, name, spy)

    for name in json.loads(sys.argv[1]):
        try:
            importlib.import_module(name)
        except ImportError:  # an extension module listed under its own top-level name
            pass
    import an_lightning

    before = list(warnings.filters)
    failed = []
    for info in pkgutil.walk_packages(an_lightning.__path__, "an_lightning."):
        try:
            importlib.import_module(info.name)
        except ImportError as err:  # an optional dependency that is not installed
            failed.append(f"{info.name}: {err}")
    print(json.dumps({
        "ours": sorted({c for c in callers if "/an_lightning/" in c}),
        "failed": failed,
        "imported": sum(m.startswith("an_lightning.") for m in sys.modules),
        "changed": list(warnings.filters) != before,
        "third_party": sorted(
            name for name, module in list(sys.modules.items())
            if "." not in name and "site-packages" in (getattr(module, "__file__", "") or "")
        ),
    }))
    """
)


def imports(first: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(first)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.splitlines()[-1])


def test_importing_every_module_leaves_warning_filters_alone():
    report = imports([])
    assert report["ours"] == [], "a module of the package installs warning filters"
    assert report["failed"] == [] and report["imported"] > 50, report
    # Libraries may add filters when first imported: with them imported beforehand,
    # importing every module of the package leaves warnings.filters exactly as it was.
    again = imports(report["third_party"])
    assert again["ours"] == [] and not again["changed"], again


# -- imports flow one way ---------------------------------------------------------------------
# Layers, top to bottom; a module may import its own layer and the ones below it. Entry
# points are the top-level modules; code under ``if __name__ == "__main__":`` counts as one.
LAYERS = (
    ("<entry points>",),
    ("cli", "callbacks", "sweeping"),
    ("tasks",),
    ("models", "data", "metrics", "viz", "loggers"),
    ("norms", "files", "latents"),
)
ENTRY_POINT = 0
BOTTOM = len(LAYERS) - 1  # the root package (``__version__``) imports nothing

# Violations still to remove; the test fails once one is gone, so the set only shrinks.
KNOWN_VIOLATIONS: set[str] = set()


def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module under ``package``."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = [package.name, *path.relative_to(package).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def layer_of(module: str) -> int:
    """The layer of a dotted module name of the package (``KeyError``: not in a layer)."""
    parts = module.split(".")
    if len(parts) == 1:
        return BOTTOM
    for layer, names in enumerate(LAYERS):
        if parts[1] in names:
            return layer
    if len(parts) == 2:  # a top-level module: an entry point
        return ENTRY_POINT
    raise KeyError(f"{'.'.join(parts[:2])} is in no layer: add it to LAYERS")


def _is_main_guard(node: ast.AST) -> bool:
    """``if __name__ == "__main__":`` (either operand order)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    names = {
        getattr(side, "id", None) or getattr(side, "value", None)
        for side in (test.left, test.comparators[0])
    }
    return names == {"__name__", "__main__"}


def imported_modules(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports, anywhere but a ``__main__`` block.

    ``from X import name`` counts as importing ``X.name`` where that is a module, else ``X``;
    relative imports are resolved against the module's package; ``import_module`` calls
    with a literal absolute name count too.
    """
    root = module.split(".")[0]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _is_main_guard(node):
            for child in node.orelse:  # the body is entry-point code
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                name = f"{target}.{alias.name}"
                found.add(name if name in known else target)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return {m for m in found if m == root or m.startswith(root + ".")}


def layer_violations(package: Path) -> set[str]:
    """``"module -> imported module"`` for every import of a higher layer under ``package``."""
    modules = module_files(package)
    layers = {module: layer_of(module) for module in modules}
    bad = set()
    for module, path in modules.items():
        for target in imported_modules(module, path, set(modules)):
            if layer_of(target) < layers[module]:
                bad.add(f"{module} -> {target}")
    return bad


def test_library_modules_import_no_higher_layer():
    found = layer_violations(ROOT / "an_lightning")
    new = sorted(found - KNOWN_VIOLATIONS)
    assert not new, "imports against the layers (move the code down a layer):\n" + "\n".join(new)
    gone = sorted(KNOWN_VIOLATIONS - found)
    assert not gone, "fixed: remove from KNOWN_VIOLATIONS:\n" + "\n".join(gone)


def test_every_module_is_in_a_layer():
    for module in module_files(ROOT / "an_lightning"):
        layer_of(module)  # KeyError names a package missing from LAYERS


def test_the_layer_check_finds_upward_imports(tmp_path):
    package = tmp_path / "an_lightning"
    files = {
        "__init__.py": "",
        "fit.py": "from .tasks import base\nfrom .cli import run\n",
        "loggers.py": "def log():\n    from .cli import run  # inside a function\n",
        "cli/__init__.py": "",
        "cli/run.py": "from ..tasks.base import Task\nimport an_lightning.sweeping.spec\n",
        "sweeping/__init__.py": "",
        "sweeping/spec.py": "from an_lightning import fit\n",
        "tasks/__init__.py": "from .base import Task\n",
        "tasks/base.py": (
            "import importlib\nfrom ..models import net\n"
            "importlib.import_module('an_lightning.callbacks')\n"
        ),
        "callbacks/__init__.py": "",
        "models/__init__.py": "from . import net\n",
        "models/net.py": (
            "from ..norms import bn\nfrom .. import __version__\n"
            'if __name__ == "__main__":\n    from ..cli import run\n'
            "else:\n    from .. import tasks\n"
        ),
        "norms/__init__.py": "",
        "norms/bn.py": "from ..viz import grid\n",
        "viz/__init__.py": "",
        "viz/grid.py": "from ..norms import bn\n",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    assert layer_violations(package) == {
        "an_lightning.loggers -> an_lightning.cli.run",
        "an_lightning.sweeping.spec -> an_lightning.fit",
        "an_lightning.tasks.base -> an_lightning.callbacks",
        "an_lightning.models.net -> an_lightning.tasks",
        "an_lightning.norms.bn -> an_lightning.viz.grid",
    }
    (package / "extras").mkdir()
    (package / "extras" / "x.py").write_text("")
    with pytest.raises(KeyError, match=r"an_lightning\.extras is in no layer"):
        layer_violations(package)
