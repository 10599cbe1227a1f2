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


# the CIFAR-10 subset beside the repository, where CI puts it (or CHAINRULE_TEST_CIFAR10)
SUBSET = Path(os.environ.get("CHAINRULE_TEST_CIFAR10") or
              Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar-10-subset-py")
READS_CIFAR = [p for p in NOTEBOOKS if "CHAINRULE_CIFAR10" in p.read_text()]
RUNS = [(p, None) for p in NOTEBOOKS] + [(p, "cifar") for p in READS_CIFAR]


def run_notebook(path, tmp_path, monkeypatch, data):
    nbclient = pytest.importorskip("nbclient", reason="nbclient comes with the test extra")
    if data is None:
        monkeypatch.delenv("CHAINRULE_CIFAR10", raising=False)
    else:
        monkeypatch.setenv("CHAINRULE_CIFAR10", str(SUBSET))
    nb = nbformat.read(path, as_version=4)
    # kernel "python3" is ipykernel's own kernel: it runs this interpreter, the one chainrule is installed in
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


def test_only_the_notebooks_that_read_cifar10_need_a_second_run():
    assert [p.name[:2] for p in READS_CIFAR] == ["03", "04"]
    for p in NOTEBOOKS:
        if p not in READS_CIFAR:
            assert "cifar" not in p.read_text().lower().replace("cifar-10 part", ""), p.name


@pytest.mark.skipif(shutil.which("dot") is None, reason="the notebooks draw graphs with Graphviz's 'dot'")
@pytest.mark.parametrize("path,data", RUNS, ids=[p.stem[:2] + ("-cifar" if d else "") for p, d in RUNS])
def test_notebook_runs_top_to_bottom_in_a_kernel(path, data, tmp_path, monkeypatch):
    if data and not SUBSET.is_dir():
        pytest.skip(f"the CIFAR-10 subset is not at {SUBSET} (CI puts it beside the repository)")
    nb, seconds = run_notebook(path, tmp_path, monkeypatch, data)
    assert seconds < 60, f"{path.name} took {seconds:.0f} s"
    shown = "\n".join(text_of(c) for c in nb.cells if c.cell_type == "code")
    expected = EXPECT[path.name[:2]]
    if data:
        expected = [e for e in expected if e not in WITHOUT_DATA] + with_data(path.name[:2])
    elif path in READS_CIFAR:
        expected = expected + WITHOUT_DATA_SAYS[path.name[:2]]
    for e in expected:
        assert e in shown, f"{path.name}: {e!r} not shown"
    assert "Error" not in "".join(o.get("ename", "") for c in nb.cells for o in c.get("outputs", []))
    if data and path.name.startswith("04"):  # the templates figure, drawn
        assert "<Figure size 1050x" in text_of(nb.cells[-1]) or "image/png" in str(nb.cells[-1].outputs)
    if path.name.startswith("05") and os.environ.get("CHAINRULE_REQUIRE_TORCH", "1") == "1":
        assert "PyTorch   loss after 50 steps" in shown and "largest difference" in shown


WITHOUT_DATA = {"CIFAR-10 part skipped"}
WITHOUT_DATA_SAYS = {"03": ["X: 64 random rows (no CIFAR-10 folder found)"], "04": []}


def with_data(number: str) -> list:
    """What a notebook must show on the real images: numbers that agree with the folder and its text."""
    from chainrule.data import load_cifar10
    _, ytr, _, yte, _ = load_cifar10(SUBSET)
    if number == "03":
        return ["X: 64 CIFAR-10 images from", "dL/dX (64, 3072) = dL/dY @ W^T"]
    n_train = min(5000, len(ytr))
    text = nbformat.read(next(p for p in NOTEBOOKS if p.name.startswith("04")), as_version=4)
    assert "first 5,000 training" in "".join(c.source for c in text.cells if c.cell_type == "markdown")
    return [f"trained on {n_train:,} CIFAR-10 images; test accuracy on {len(yte):,} images: linear"]
