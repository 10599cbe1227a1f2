"""The notebooks in examples/: stored without outputs, and each runs top to bottom in a real
Jupyter kernel (this Python, through ipykernel) in under a minute, showing what it says it shows."""
import os
import shutil
import time
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
nbformat = pytest.importorskip("nbformat", reason="nbformat comes with the test extra (nbclient)")


def test_there_are_five_notebooks_stored_without_outputs():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code, path.name
        for c in code:
            assert c.outputs == [] and c.execution_count is None, f"{path.name}: a cell holds outputs"


def text_of(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            out.append(o.text)
        elif o.output_type in ("execute_result", "display_data"):
            out.append(o.data.get("text/plain", ""))
            out.append(o.data.get("text/html", ""))
            out.append(o.data.get("image/svg+xml", ""))
    return "".join(out)


# what each notebook must show when it runs (content, not just "it ran")
EXPECT = {
    "01": ["f = -12.0", "df/dz: local = q = 3", "add: da = 2, db = 2", "mul: da = -2, db = 6",
           "max: da = 2, db = 0", "<iframe srcdoc="],
    "02": ["f = 0.73", "dw0 = -0.20", "dx0 = 0.39", "dw1 = -0.39", "dx1 = -0.59", "dw2 = 0.20",
           "local = s(1 - s) = 0.731 x 0.269 = 0.197", "gradcheck: True", "caught:",
           "local = s + t s(1 - s)"],
    "03": ["dL/dX (64, 3072) = dL/dY @ W^T", "checked", "0.weight  (5, 4)   grad (5, 4)", "<iframe srcdoc="],
    "04": ["2-layer: 9", "training accuracy 9", "CIFAR-10 part skipped"],
    "05": ["chainrule loss after 50 steps", "class Sigmoid(Function)", "dL/d0.weight (16, 2)"],
}


@pytest.mark.skipif(shutil.which("dot") is None, reason="the notebooks draw graphs with Graphviz's 'dot'")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom_in_a_kernel(path, tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient", reason="nbclient comes with the test extra")
    monkeypatch.delenv("CHAINRULE_CIFAR10", raising=False)
    nb = nbformat.read(path, as_version=4)
    # kernel "python3" is ipykernel's own kernel: it runs this interpreter, the one chainrule is installed in
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    assert seconds < 60, f"{path.name} took {seconds:.0f} s"
    shown = "\n".join(text_of(c) for c in nb.cells if c.cell_type == "code")
    for expected in EXPECT[path.name[:2]]:
        assert expected in shown, f"{path.name}: {expected!r} not shown"
    assert "Error" not in "".join(o.get("ename", "") for c in nb.cells for o in c.get("outputs", []))
    if path.name.startswith("05") and os.environ.get("CHAINRULE_REQUIRE_TORCH", "1") == "1":
        assert "PyTorch   loss after 50 steps" in shown and "largest difference" in shown
