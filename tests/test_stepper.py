"""The HTML stepper: its steps hold the engine's numbers, the page is self-contained, and in a real
browser (headless Chromium) pressing Next through every step shows those numbers."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.viz import stepper
from chainrule.viz.expression import evaluate

NEURON = "1/(1+exp(-(w0*x0+w1*x1+w2)))"
LECTURE = dict(w0=2, x0=-1, w1=-3, x1=-2, w2=-3)
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="the Graphviz program 'dot' is not installed")


def external_references(page: str) -> list:
    """Anything in the page that would make a browser ask another place for something."""
    return re.findall(r"https?://|//[\w.-]+\.\w+/|\b(?:src|href|action|srcset)\s*=|@import|url\(", page)


def pipeline():
    cr.manual_seed(0)
    net = cr.nn.MLP([4, 5, 3])
    x = cr.randn(2, 4)
    L = cr.nn.functional.cross_entropy(net(x), [0, 2])
    return net, x, L


@needs_dot
def test_steps_hold_the_engines_values_and_gradients():
    f, leaves = evaluate(NEURON, LECTURE)
    s = stepper(f)
    forward = [st for st in s.steps if st["kind"] == "forward"]
    backward = [st for st in s.steps if st["kind"] == "backward"]
    # forward: every input, constant and gate once, inputs first, the output last
    assert re.fullmatch(r"f = 1 / t\d = 0.731", forward[-1]["text"]) and forward[-1]["value"] == "0.731"
    # long sub-expressions go by short names, their full text beside them
    assert any("t4 is w0 * x0 + w1 * x1 + w2" in st["rule"] for st in forward)
    assert [st["text"] for st in forward[:5]] == ["input w0 = 2", "input x0 = -1", "input w1 = -3",
                                                    "input x1 = -2", "input w2 = -3"]
    # backward: the start, then one step per edge into something that needs a gradient (12 of them)
    assert backward[0]["downstream"] == "1" and len(backward) == 1 + 12
    total = {}
    for st in backward[1:]:
        up, loc, down = float(st["upstream"]), float(st["local"]), float(st["downstream"])
        assert up * loc == pytest.approx(down, rel=2e-2, abs=2e-3), st["text"]
        total[st["down_name"]] = total.get(st["down_name"], 0) + down
    for name, leaf in leaves.items():
        assert total[f"df/d{name}"] == pytest.approx(leaf.grad.item(), rel=5e-3), name
    sig = next(st for st in backward if st["gate"] == "exp gate")
    assert sig["local_text"] == "local = e^t5 = 0.368" and sig["wire"].startswith("w")


@needs_dot
def test_page_is_one_self_contained_file(tmp_path):
    f, _ = evaluate("(x + y) * z", dict(x=-2, y=5, z=-4))
    s = stepper(f)
    path = Path(s.save(tmp_path / "xyz.html"))
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<script>" in page and "<style>" in page
    assert external_references(page) == []
    # the data the script walks is the steps, as JSON
    data = json.loads(re.search(r'<script type="application/json" id="steps">(.*?)</script>', page, re.S)[1])
    assert [st["text"] for st in data["steps"]] == [st["text"] for st in s.steps]
    # every wire the steps name is in the drawing, with its value (green) and gradient (red)
    for st in s.steps:
        for wire in st.get("wires", []) + ([st["wire"]] if "wire" in st else []):
            assert f'id="{wire}"' in page, wire
    assert 'fill="#1a7f37">&#45;2.00<' in page or 'fill="#1a7f37">-2.00<' in page
    # inline in Jupyter: an isolated iframe holding the same page
    frame = s._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in frame
    assert "&lt;svg" in frame and "<svg" not in frame


def test_stepper_refuses_a_large_graph_in_one_line():
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(300):
        y = y * 1.01
    with pytest.raises(ValueError, match=r"^stepper: the graph has \d+ tensors; the stepper is for small"):
        stepper(y)


@needs_dot
def test_graph_command_writes_the_stepper_page(tmp_path):
    p = subprocess.run([sys.executable, "-m", "chainrule", "graph", NEURON, *(f"{k}={v}" for k, v in LECTURE.items()),
                        "--html", str(tmp_path / "n.html")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "stepper:" in p.stdout and "df/dw0 = -0.196" in p.stdout
    page = (tmp_path / "n.html").read_text()
    assert external_references(page) == [] and '"kind": "backward"' in page


# ----------------------------------------------------------------------------- in a real browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("no Chromium browser and chromedriver installed (.ci/run installs Debian's chromium and "
                    "chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1500,900",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def requests_that_left(driver) -> list:
    """URLs the page asked for, other than itself: from Chrome's network log and resource timing."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    urls += driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    # the page itself (file://) and the browser's own start page (chrome://, never the network)
    return [u for u in urls if not u.startswith(("file://", "data:", "about:", "chrome://", "chrome-untrusted://"))]


def press_through(driver, path):
    """Open the page, press Next through every step; return what the side panel showed at each."""
    from selenium.webdriver.common.by import By
    driver.get_log("performance")  # forget what came before
    driver.get(Path(path).resolve().as_uri())
    n = driver.execute_script("return window.stepper.steps.length")
    nxt = driver.find_element(By.ID, "next")
    shown = []
    for _ in range(n):
        nxt.click()
        d = driver.find_element(By.ID, "detail")
        row = {"kind": d.get_attribute("data-kind")}
        for cls in ("name", "upstream", "local", "downstream", "value", "gate"):
            found = d.find_elements(By.CLASS_NAME, cls)
            if found:
                row[cls] = found[0].text
                row[cls + "_title"] = found[0].get_attribute("title")
        shown.append(row)
    nxt.click()  # past the end: stays on the last step
    assert driver.execute_script("return window.stepper.at()") == n - 1
    return shown


@needs_dot
def test_browser_steps_through_the_sigmoid_neuron(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    f, leaves = evaluate(NEURON, LECTURE)
    path = stepper(f).save(tmp_path / "neuron.html")
    shown = press_through(browser, path)
    assert requests_that_left(browser) == []
    backward = [r for r in shown if r["kind"] == "backward"]
    assert len(backward) == 13 and backward[0]["downstream"] == "1"
    total = {}
    for r in backward[1:]:
        up, loc, down = float(r["upstream"]), float(r["local"]), float(r["downstream"])
        assert up * loc == pytest.approx(down, rel=2e-2, abs=2e-3)
        name = r["name"].rstrip(" =")
        total[name] = total.get(name, 0) + down
    for name, leaf in leaves.items():
        assert total[f"df/d{name}"] == pytest.approx(leaf.grad.item(), rel=5e-3), name
    # the drawing now shows every value and gradient: the lecture's numbers, on the wires
    shown_on_wires = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "g.edge text") if t.is_displayed()]
    for label in ("2.00", "-1.00", "-3.00", "-2.00", "0.73", "-0.20", "0.39", "-0.39", "-0.59", "0.20", "-0.53"):
        assert label in [s.replace("\u2212", "-") for s in shown_on_wires], label
    log = browser.find_elements(By.CSS_SELECTOR, "#log li")
    assert len(log) == len(shown) and "current" in log[-1].get_attribute("class")
    # the arrow keys go back and forth, Reset goes to the start and hides the numbers again
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_LEFT)
    body.send_keys(Keys.ARROW_LEFT)
    assert browser.execute_script("return window.stepper.at()") == len(shown) - 3
    body.send_keys(Keys.ARROW_RIGHT)
    assert browser.execute_script("return window.stepper.at()") == len(shown) - 2
    browser.find_element(By.ID, "reset").click()
    assert browser.execute_script("return window.stepper.at()") == -1
    assert not [t for t in browser.find_elements(By.CSS_SELECTOR, "g.edge text") if t.is_displayed() and t.text.strip()]
    for _ in range(19):  # to the middle of the backward pass, for the picture
        body.send_keys(Keys.ARROW_RIGHT)
    shot = tmp_path / "stepper.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20000
    if os.environ.get("CHAINRULE_SCREENSHOTS"):
        shutil.copy(shot, Path(os.environ["CHAINRULE_SCREENSHOTS"]) / "stepper_neuron.png")


@needs_dot
def test_browser_steps_through_a_small_network(browser, tmp_path):
    net, x, L = pipeline()
    path = stepper(L, model=net, names={"x": x, "L": L}).save(tmp_path / "mlp.html")
    shown = press_through(browser, path)
    assert requests_that_left(browser) == []
    grads = {f"dL/d{n}": p.grad.data for n, p in net.named_parameters()}
    seen = set()
    for r in shown:
        if r["kind"] != "backward":
            continue
        name = r["name"].rstrip(" =")
        if name in grads:
            seen.add(name)
            assert r["downstream"] == str(grads[name].shape)  # the shape on the page ...
            numbers = np.array([float(v) for v in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", r["downstream_title"])])
            np.testing.assert_allclose(numbers, grads[name].ravel(), atol=6e-4)  # ... and the numbers on hover
    assert seen == set(grads)
    if os.environ.get("CHAINRULE_SCREENSHOTS"):
        browser.save_screenshot(str(Path(os.environ["CHAINRULE_SCREENSHOTS"]) / "stepper_mlp.png"))


def test_without_graphviz_the_page_says_how_to_install_it(tmp_path, monkeypatch):
    f, _ = evaluate("(x + y) * z", dict(x=-2, y=5, z=-4))
    s = stepper(f)  # the steps need no drawing program ...
    assert len(s.steps) == 5 + 5
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):  # ... the page does
        s.save(tmp_path / "p.html")


@needs_dot
def test_browser_runs_the_inline_view_a_notebook_shows(browser, tmp_path):
    from selenium.webdriver.common.by import By
    f, leaves = evaluate("(x + y) * z", dict(x=-2, y=5, z=-4))
    s = stepper(f)
    host = tmp_path / "notebook_output.html"  # what Jupyter puts in an output cell: the _repr_html_
    host.write_text("<!DOCTYPE html><html><body><p>cell output</p>" + s._repr_html_() + "</body></html>")
    browser.get_log("performance")
    browser.get(host.as_uri())
    browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
    try:
        for _ in range(len(s.steps)):
            browser.find_element(By.ID, "next").click()
        assert browser.execute_script("return window.stepper.at()") == len(s.steps) - 1
        d = browser.find_element(By.ID, "detail")
        assert d.find_element(By.CLASS_NAME, "name").text.rstrip(" =") == "df/dy"
        assert float(d.find_element(By.CLASS_NAME, "downstream").text) == leaves["y"].grad.item()
    finally:
        browser.switch_to.default_content()
    assert requests_that_left(browser) == []
