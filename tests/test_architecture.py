"""The layers of ARCHITECTURE.md hold: import-linter's contracts (pyproject) pass, the contracts name
every module of the package, the engine has no import inside a function, and the rest of the
package none except of an optional library."""
import ast
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: import-linter depends on tomli there
    import tomli as tomllib

import pytest

import chainrule

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(chainrule.__file__).parent
ENGINE = ["core", "rules", "ops", "tensor.py", "autograd.py", "creation.py", "dtypes.py", "devices.py",
          "random.py", "_format.py"]
# what a function may import: optional extras (`import chainrule` works without them, and a command
# that needs one says how to install it) and the POSIX-only modules a run lock uses where they exist
OPTIONAL = {"matplotlib", "graphviz", "optuna", "sqlalchemy", "sklearn", "mpi4py", "tensorboardX", "scipy",
            "selenium", "PIL", "fcntl", "resource", "numba"}


def contracts():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_the_import_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    r = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                       text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_the_core_contract_names_every_other_module():
    core = next(c for c in contracts() if c["source_modules"] == ["chainrule.core"])
    tops = {f"chainrule.{m.name}" for m in pkgutil.iter_modules([str(PACKAGE)])}
    assert set(core["forbidden_modules"]) == tops - {"chainrule.core"}
    rules = next(c for c in contracts() if c["source_modules"] == ["chainrule.rules"])
    assert set(rules["forbidden_modules"]) == tops - {"chainrule.core", "chainrule.rules"}


def function_imports(source: str) -> list:
    """(line, top-level module) of every import inside a function of ``source``; a relative import
    is chainrule's own ("chainrule")."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    found += [(inner.lineno, a.name.split(".")[0]) for a in inner.names]
                elif isinstance(inner, ast.ImportFrom):
                    found.append((inner.lineno, "chainrule" if inner.level else inner.module.split(".")[0]))
    return sorted(set(found))


def test_the_engine_has_no_import_inside_a_function():
    found = []
    for name in ENGINE:
        path = PACKAGE / name
        for f in ([path] if path.is_file() else sorted(path.rglob("*.py"))):
            found += [f"{f.relative_to(PACKAGE)}:{line}" for line, _ in function_imports(f.read_text())]
    assert found == []


def test_no_import_inside_a_function_except_of_an_optional_library():
    found = [f"{f.relative_to(PACKAGE)}:{line} imports {module}" for f in sorted(PACKAGE.rglob("*.py"))
             for line, module in function_imports(f.read_text()) if module not in OPTIONAL]
    assert found == []


def test_the_import_check_finds_imports_inside_functions():
    source = ("import numpy\n"
              "def f():\n    import json\n    from chainrule.train import run\n"
              "class C:\n    def g(self):\n        from . import lecture\n        import optuna.trial\n")
    assert function_imports(source) == [(3, "json"), (4, "chainrule"), (7, "chainrule"), (8, "optuna")]
    assert [m for _, m in function_imports(source) if m not in OPTIONAL] == ["json", "chainrule", "chainrule"]
