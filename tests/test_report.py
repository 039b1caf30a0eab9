"""``report.html``, ``compare.html`` and ``progress.gif`` of small real runs.

The pages must be self-contained (every image a ``data:`` URI, no network reference, no script),
hold what the run folder holds, and render in headless Chromium without console errors.
"""

from __future__ import annotations

import base64
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gankit
from gankit.cli import main
from gankit.errors import GankitError
from gankit.runs.animation import snapshots, write_progress_gif
from gankit.runs.compare import write_comparison
from gankit.runs.report import RunPages, read_run, write_report, write_run_pages

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def quiet(_message: str) -> None:
    pass


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    """ring8, 20 steps: 4 snapshots, checkpoints at 10 and 20 (and best.ckpt), 2 evaluations, metrics.json."""
    out = tmp_path_factory.mktemp("toy") / "ring8-run"
    cfg = gankit.load_config(None, {"data.name": "ring8", "train.steps": 20, "train.sample_every": 5,
                                    "train.checkpoint_every": 10, "data.n_points": 512, "model.width": 16,
                                    "train.batch_size": 32, "train.device": "cpu", "train.log_every": 5,
                                    "train.eval_every": 10, "train.eval_n": 200})
    gankit.train(cfg, out=out, log=quiet)
    gankit.evaluate(out, n=300)
    return out


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """A DCGAN on 16x16 digits, 6 steps: 3 snapshots, no metrics.json."""
    out = tmp_path_factory.mktemp("digits") / "digits-run"
    cfg = gankit.load_config(None, {"data.name": "digits", "data.image_size": 16, "model.width": 8,
                                    "train.steps": 6, "train.sample_every": 2, "train.checkpoint_every": 3,
                                    "train.batch_size": 16, "train.device": "cpu", "train.log_every": 2})
    gankit.train(cfg, out=out, log=quiet)
    return out


class PageParser(HTMLParser):
    """Every tag with its attributes, plus the page's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def assert_self_contained(path: Path) -> PageParser:
    """No network reference, no script or stylesheet link, every image inlined."""
    page = parse(path)
    assert page.tags and page.tags[0][0] == "html"
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            value = attrs.get(name, "").strip().lower()
            assert not value.startswith(("http://", "https://", "//")), f"<{tag} {name}={value[:60]}> reaches the network"
        assert tag not in ("script", "link", "iframe", "object", "embed"), f"the page holds a <{tag}>"
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,"), f"an image is not inlined: {attrs['src'][:60]}"
    text = path.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert "url(" not in text  # no CSS fetches either
    return page


def images(page: PageParser) -> list[bytes]:
    return [base64.b64decode(a["src"].split(",", 1)[1]) for t, a in page.tags if t == "img"]


def test_report_of_a_toy_run_holds_the_whole_folder(toy_run):
    path = write_report(toy_run)
    assert path == toy_run / "report.html"
    page = assert_self_contained(path)
    text = " ".join(page.text)
    embedded = images(page)
    for _, snapshot in snapshots(toy_run):  # every snapshot, byte for byte, in step order
        assert snapshot.read_bytes() in embedded
    order = [embedded.index(s.read_bytes()) for _, s in snapshots(toy_run)]
    assert order == sorted(order)
    # the discriminator map of each kept checkpoint (best.ckpt repeats step 10 or 20 and is not drawn twice)
    assert sum(1 for t, a in page.tags if t == "img" and a.get("alt", "").startswith("discriminator at")) == 2
    assert {"step 10", "step 20"} <= set(page.text)
    config = json.loads((toy_run / "config.json").read_text())
    assert "ring8" in text and str(config["train"]["eval_n"]) in page.text
    metrics = json.loads((toy_run / "metrics.json").read_text())["metrics"]
    assert all(key in page.text for key in metrics)  # the metrics table
    charts = [a for t, a in page.tags if t == "svg" and "chart" in a.get("class", "")]
    titles = {a["aria-label"] for a in charts}
    assert "losses" in titles and "w1" in titles  # a statistic of stats.jsonl and one of evals.jsonl
    assert page.text.count("w1") >= 2  # the evaluations' chart title and table header
    assert (toy_run / "report.html").stat().st_size < 2_000_000


def test_report_of_an_image_run_shows_the_grid_over_training(digits_run):
    page = assert_self_contained(write_report(digits_run))
    embedded = images(page)
    steps = [s for s, _ in snapshots(digits_run)]
    assert steps == [2, 4, 6]
    assert all(p.read_bytes() in embedded for _, p in snapshots(digits_run))
    assert not any(a.get("alt", "").startswith("discriminator") for t, a in page.tags if t == "img")
    assert "gankit evaluate" in " ".join(page.text)  # no metrics.json: says how to get one


def test_report_renders_in_headless_chromium(toy_run, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium package)")
    path = write_report(toy_run)
    problems, outside = [], []
    shot = tmp_path / "report.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda err: problems.append(str(err)))
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
            page.goto(path.as_uri(), wait_until="load")
            broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
            drawn = page.evaluate("document.querySelectorAll('svg.chart polyline').length")
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert problems == [] and outside == [] and broken == 0
    assert drawn > 0
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 200  # text, curves and colours: not a blank page


def test_comparison_holds_both_runs_on_shared_axes(toy_run, digits_run, tmp_path):
    out = write_comparison([toy_run, digits_run], tmp_path / "compare.html")
    page = assert_self_contained(out)
    embedded = images(page)
    for run in (toy_run, digits_run):
        assert run.name in page.text
        assert snapshots(run)[-1][1].read_bytes() in embedded  # each run's last snapshot, side by side
    charts = [a["aria-label"] for t, a in page.tags if t == "svg" and "chart" in a.get("class", "")]
    assert "loss D (loss_d)" in charts  # one chart per statistic, a line per run
    chunks = out.read_text(encoding="utf-8").split('<svg class="chart"')
    loss_chart = next(c for c in chunks if 'aria-label="loss D (loss_d)"' in c)
    assert f"<title>{toy_run.name}</title>" in loss_chart and f"<title>{digits_run.name}</title>" in loss_chart
    assert "data.name" in page.text  # the settings that differ


def test_cli_report_writes_the_page_and_the_gif(digits_run, toy_run, tmp_path, capsys):
    assert main(["report", str(digits_run)]) == 0
    printed = capsys.readouterr().out
    assert "report.html" in printed and "progress.gif" in printed
    assert (digits_run / "report.html").is_file() and (digits_run / "progress.gif").is_file()
    out = tmp_path / "compare.html"
    assert main(["report", str(toy_run), str(digits_run), "--out", str(out)]) == 0
    assert "2 runs compared" in capsys.readouterr().out and out.is_file()


@pytest.mark.parametrize("which", ["toy", "digits"])
def test_progress_gif_has_one_frame_per_snapshot(which, toy_run, digits_run, tmp_path):
    run = toy_run if which == "toy" else digits_run
    path = write_progress_gif(run, out=tmp_path / "progress.gif")
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == len(snapshots(run))
        assert gif.info.get("loop") == 0


def test_progress_gif_of_a_run_without_snapshots_is_none(tmp_path):
    (tmp_path / "samples").mkdir()
    assert write_progress_gif(tmp_path) is None


def test_a_torn_last_line_is_skipped_but_a_damaged_one_is_refused(toy_run, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(toy_run, run)
    lines = (run / "stats.jsonl").read_text().splitlines()
    (run / "stats.jsonl").write_text("\n".join(lines) + '\n{"step": 21, "loss_')  # a kill mid-write
    assert len(read_run(run).stats) == len(lines)
    lines[3] = lines[3][:-10]
    (run / "stats.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(GankitError, match=r"stats.jsonl is damaged: line 4 is not JSON"):
        write_report(run)


@pytest.mark.parametrize("case", ["missing", "file", "no-config", "bad-config", "bad-stats"])
def test_errors_are_one_line(case, toy_run, tmp_path, capsys):
    target = tmp_path / "run"
    if case == "file":
        target.write_text("x")
    elif case != "missing":
        target.mkdir()
    if case == "bad-config":
        (target / "config.json").write_text("{not json")
    if case == "bad-stats":
        shutil.copy(toy_run / "config.json", target / "config.json")
        (target / "stats.jsonl").write_bytes(b"\xff\xfe\n{}\n")
    with pytest.raises(GankitError):
        read_run(target)
    assert main(["report", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gankit report: error: ") and err.count("\n") == 1
    assert not (target / "report.html").exists() if target.is_dir() else True


def test_the_run_pages_callback_writes_both_files_when_training_stops(tmp_path):
    out = tmp_path / "run"
    cfg = gankit.load_config(None, {"data.name": "ring8", "train.steps": 6, "train.sample_every": 3,
                                    "data.n_points": 512, "model.width": 16, "train.batch_size": 32,
                                    "train.device": "cpu"})
    gankit.train(cfg, out=out, log=quiet, callbacks=[RunPages()])
    assert (out / "report.html").is_file()
    with Image.open(out / "progress.gif") as gif:
        assert gif.n_frames == 2


def test_train_report_false_writes_no_pages(tmp_path):
    out = tmp_path / "run"
    cfg = gankit.load_config(None, {"data.name": "ring8", "train.steps": 6, "train.sample_every": 3,
                                    "data.n_points": 512, "model.width": 16, "train.batch_size": 32,
                                    "train.device": "cpu", "train.report": False})
    gankit.train(cfg, out=out, log=quiet)
    assert (out / "samples.png").is_file()
    assert not (out / "report.html").exists() and not (out / "progress.gif").exists()


def test_run_pages_turn_a_failure_into_one_warning(tmp_path):
    lines = []
    assert write_run_pages(tmp_path / "nothing-here", log=lines.append) == []
    assert len(lines) == 1 and lines[0].startswith("warning: report.html was not written: ")
