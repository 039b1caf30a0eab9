"""End to end: the lab's page in real headless Chromium, driven by Playwright.

Opens the page, presses play, waits until the step counter passes 200, switches the loss and checks
the canvas pixels change, checks a bad value shows an error in the page, that no console error
appeared, and saves the screenshot the README shows (docs/figures/lab.png). Skips, with the reason,
where Playwright or Chromium is missing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
FIGURE = Path(__file__).resolve().parent.parent / "docs" / "figures" / "lab.png"


@pytest.fixture
def page():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        except Exception as err:  # a browser that cannot start here (missing libraries, no sandbox support)
            pytest.skip(f"Chromium does not start here: {str(err).splitlines()[0]}")
        try:
            yield browser.new_page(viewport={"width": 1860, "height": 1000})
        finally:
            browser.close()


def wait_for(page, expression: str, seconds: float = 120):
    """Poll ``expression`` in the page (the page's CSP forbids the eval wait_for_function uses)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = page.evaluate(expression)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {expression}")


def plane_pixels(page, pane: int = 0) -> str:
    return page.evaluate(f"document.querySelector('#pane-{pane} canvas.plane').toDataURL()")


def test_the_page_plays_switches_loss_and_shows_errors(page, tmp_path):
    from gankit.lab.engine import Engine
    from gankit.lab.server import LabServer
    from gankit.training.config import load_config

    cfg = load_config(None, {"data.name": "ring8", "train.device": "cpu"})
    server = LabServer(Engine(cfg, tmp_path), port=0)
    url = server.start()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    try:
        page.goto(url)
        wait_for(page, "window.gankitLab && window.gankitLab.frames > 0", 60)
        assert page.text_content("#step-counter") == "step 0"
        page.click("#play")
        wait_for(page, "Number(document.querySelector('#step-counter').textContent.split(' ')[1]) > 200")
        page.click("#play")  # pause: the picture must hold still, then change with the loss
        wait_for(page, "window.gankitLab.frame && !window.gankitLab.frame.playing", 30)
        time.sleep(0.5)
        before = plane_pixels(page)
        time.sleep(0.5)
        assert plane_pixels(page) == before
        page.select_option("#ctl-loss", "wgan-gp")
        wait_for(page, "window.gankitLab.frame.panes[0].loss === 'wgan-gp'", 60)
        time.sleep(0.3)
        assert plane_pixels(page) != before
        assert "critic f(x)" in page.text_content("#pane-0 .plane-label")
        page.fill("#ctl-lr_g", "-1")  # a bad value: an error in the page, training untouched
        page.dispatch_event("#ctl-lr_g", "change")
        wait_for(page, "!document.querySelector('#error').hidden", 30)
        assert "loss.lr_g must be > 0" in page.text_content("#error")
        assert page.evaluate("window.gankitLab.frame.panes[0].settings.lr_g") == 0.001
        page.select_option("#compare", "gan-ns")  # side by side, for the README's picture
        wait_for(page, "window.gankitLab.frame.panes.length === 2", 60)
        page.click("#play")
        wait_for(page, "window.gankitLab.frame.panes[0].step > 400", 180)
        page.click("#play")
        wait_for(page, "!window.gankitLab.frame.playing", 30)
        time.sleep(0.5)
        assert page.evaluate("window.gankitLab.frame.panes.map(p => p.loss)") == ["wgan-gp", "gan-ns"]
        shot = page.screenshot(full_page=True)
        assert problems == [], problems
    finally:
        server.stop()
    try:
        FIGURE.write_bytes(shot)
    except OSError:  # a read-only checkout: keep it beside the test's files
        (tmp_path / "lab.png").write_bytes(shot)
