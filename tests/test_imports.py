"""Importing the package changes no global state: warning filters stay as they were."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

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
