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
    assert forward[-1]["text"] == "f = 1 / t7 = 0.731" and forward[-1]["value"] == "0.731"
    assert forward[-1]["expr"] == "f = 1 / t7"  # the computation, its value apart: shown once
    # intermediates go by short names, their whole sub-expression beside them; a forward step says
    # what the gate computes, not its backward rule
    t4 = next(st for st in forward if st["expr"] == "t4 = t3 + w2")
    assert t4["rule"] == "add gate: adds its inputs; t4 = w0 * x0 + w1 * x1 + w2"
    assert not any("gradient" in st["rule"] for st in forward)
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
        row = {"kind": d.get_attribute("data-kind"), "text": d.text}
        for cls in ("name", "upstream", "local", "downstream", "value", "gate", "expr", "sum"):
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
    shown_on_wires = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#graph text") if t.is_displayed()]
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
    assert not [t for t in browser.find_elements(By.CSS_SELECTOR, "#graph text")
                if t.is_displayed() and t.get_attribute("fill") in ("#1a7f37", "#cf222e")]
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


JS_LINK = re.compile(r"(?:href|src|action)\s*=\s*[\"']?\s*javascript:", re.I)
FORK = "max(x, y) * relu(z) + tanh(x*y) / sqrt(abs(z))"


@needs_dot
def test_browser_shows_each_wires_share_and_a_step_where_gradients_add(browser, tmp_path):
    """The issue's example: x feeds max and mul, z feeds relu and abs."""
    from selenium.webdriver.common.by import By
    f, leaves = evaluate(FORK, dict(x=3, y=-1, z=2))
    s = stepper(f)
    path = s.save(tmp_path / "fork.html")
    shown = press_through(browser, path)
    # forward steps: the computation once, with its value once, and what the gate computes
    for r, st in zip(shown, s.steps):
        if r["kind"] == "forward":
            assert r["expr"] == st["expr"] + " =" and r["value"] == st["value"]
            assert r["text"].count(st["value"]) == 1 + st["expr"].count(st["value"]), r["text"]
            assert "gradient" not in r["text"]
    # each fork is a step of its own, its sum the shares the wires got before it
    forks = [r for r in shown if r.get("gate") == "gradients add at a fork"]
    assert [r["name"] for r in forks] == ["df/dz =", "df/dx =", "df/dy ="]
    x_fork = forks[1]
    assert x_fork["sum"] == "2 (via max) + -0.00698 (via mul)" and x_fork["downstream"] == "1.99"
    assert float(x_fork["downstream"]) == pytest.approx(leaves["x"].grad.item(), abs=5e-3)
    assert "gradients add at a fork: x is used twice" in x_fork["text"]
    at = shown.index(x_fork)
    assert [r["name"] for r in shown[at - 1:at]] == ["df/dx (via max) ="]
    # every number on the page's drawing is the engine's: each wire its own share
    labels = {}
    for g in browser.find_elements(By.CSS_SELECTOR, "#graph g.node"):
        texts = [t.text for t in g.find_elements(By.TAG_NAME, "text")]
        labels[g.get_attribute("id")] = texts
    ids = s.ids
    x = leaves["x"]
    into_max = next(ids.wire_id(x, o, i) for o, i in ids.uses[id(x)] if o._ctx.name == "Maximum")
    into_mul = next(ids.wire_id(x, o, i) for o, i in ids.uses[id(x)] if o._ctx.name == "Mul")
    assert labels[into_max] == ["2.00"] and labels[into_mul] == ["-0.007"]
    assert labels[ids.stem_id(x)] == ["3.00", "2.00 + -0.007 = 1.99"]
    shot = tmp_path / "fork.png"
    browser.execute_script("window.stepper.show(arguments[0])", at)
    lit = set(browser.execute_script("return Array.from(document.querySelectorAll('#graph .current')).map(e => e.id)"))
    assert {f"{into_max}_b", f"{into_mul}_b", f"{ids.stem_id(x)}_a"} <= lit  # the wires whose shares add up
    browser.save_screenshot(str(shot))
    if os.environ.get("CHAINRULE_SCREENSHOTS"):
        shutil.copy(shot, Path(os.environ["CHAINRULE_SCREENSHOTS"]) / "stepper_fork.png")


@needs_dot
def test_browser_drawing_fills_the_window_and_scales_with_it(browser, tmp_path):
    f, _ = evaluate(NEURON, LECTURE)
    path = stepper(f).save(tmp_path / "n.html")
    sizes = []
    try:
        for w, h in ((1500, 900), (1000, 700), (1900, 1100)):
            browser.set_window_size(w, h)
            browser.get(Path(path).resolve().as_uri())
            pane = browser.execute_script("const r = document.getElementById('graph').getBoundingClientRect();"
                                          "return [r.width, r.height, document.querySelector('main')"
                                          ".getBoundingClientRect().bottom];")
            box = browser.execute_script("const r = document.querySelector('#graph svg g').getBoundingClientRect();"
                                         "return [r.width, r.height];")
            inner = browser.execute_script("return [window.innerWidth, window.innerHeight]")
            assert pane[2] >= inner[1] - 2  # the page reaches the bottom of the window
            assert pane[0] >= 0.6 * inner[0] and pane[1] >= 0.5 * inner[1]  # the drawing has most of it
            # the drawing fills the pane in its longer direction (its proportions kept)
            assert box[0] >= 0.9 * (pane[0] - 16) or box[1] >= 0.9 * (pane[1] - 16), (pane, box)
            sizes.append(box[0])
    finally:
        browser.set_window_size(1500, 900)
    assert sizes[2] > sizes[0] > sizes[1]  # it scales with the window


@needs_dot
@pytest.mark.parametrize("name", ["<b>x</b>", '<table href="javascript:alert(1)"><tr><td>x</td></tr></table>',
                                  "x__SVG__y", "__DATA__", "\"quote'", "</script><script>alert(1)</script>"])
def test_hostile_names_stay_text_in_drawings_and_pages(name, tmp_path, browser):
    from selenium.webdriver.common.by import By
    x = cr.tensor(2.0, requires_grad=True, name=name)
    y = cr.tensor(3.0, requires_grad=True, name="y")
    f = x * y + x
    f.backward(retain_graph=True)
    for style in ("boxes", "lecture"):
        svg = cr.viz.draw_graph(f, style=style, title=name).pipe(format="svg").decode()
        assert not JS_LINK.search(svg) and "<table" not in svg and "<b>" not in svg and "<script" not in svg
    s = stepper(f, title=name)
    page = Path(s.save(tmp_path / "p.html")).read_text()
    assert page.count("<svg") == 1 and not JS_LINK.search(page) and page.count("<script") == 2
    browser.get((tmp_path / "p.html").resolve().as_uri())
    assert browser.title == name
    n = browser.execute_script("return window.stepper.steps.length")
    assert n == len(s.steps)
    browser.execute_script("window.stepper.show(arguments[0])", n - 1)
    assert browser.find_elements(By.CSS_SELECTOR, "#log li")[0].text == f"input {name} = 2"


@needs_dot
def test_graph_command_page_steps_with_a_placeholder_in_the_expression(tmp_path, browser):
    p = subprocess.run([sys.executable, "-m", "chainrule", "graph", "a__SVG__ * 2 + a__SVG__", "a__SVG__=1",
                        "--html", str(tmp_path / "p.html")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    page = (tmp_path / "p.html").read_text()
    assert page.count("<svg") == 1
    browser.get((tmp_path / "p.html").resolve().as_uri())
    assert browser.execute_script("return window.stepper.steps.length") > 5
