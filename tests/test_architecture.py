"""The layers of ARCHITECTURE.md hold: import-linter's contracts (pyproject) pass, the contracts name
every module of the package, and the engine has no import inside a function."""
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


def test_the_engine_has_no_import_inside_a_function():
    found = []
    for name in ENGINE:
        path = PACKAGE / name
        for f in ([path] if path.is_file() else sorted(path.rglob("*.py"))):
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    for inner in ast.walk(node):
                        if isinstance(inner, (ast.Import, ast.ImportFrom)):
                            found.append(f"{f.relative_to(PACKAGE)}:{inner.lineno}")
    assert found == []
