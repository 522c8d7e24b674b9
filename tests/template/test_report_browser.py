"""The report in a real browser: headless Chromium (Debian's ``chromium``, installed by ``bash .ci/tools.sh``) opens the
HTML file from disk with the network unused, runs its scripts until every plot is drawn, and the DOM it dumps must hold
plotly's ``svg.main-svg`` inside every plot; a screenshot is saved next to the test's files.

A missing Chromium skips these tests on a developer's machine and fails them under CI (``_require``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _require import missing

from benchmarks.report_size import chromium, find_chromium, plot_render_states, plots_drawn_ms, render_synthetic
from hyperparameter_tuner.cli import main
from hyperparameter_tuner.report import PLOT_CLASS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def browser() -> str:
    found = find_chromium()
    if found is None:
        missing("headless Chromium is not installed (bash .ci/tools.sh installs Debian's chromium)")
    return found


def open_in_browser(browser: str, page: Path, tmp_path: Path) -> tuple[str, Path]:
    """The page's DOM after its scripts ran, and a full-width screenshot of it."""
    dumped = chromium(browser, page, tmp_path / "profile-dom", "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-3000:]
    screenshot = tmp_path / f"{page.stem}.png"
    shot = chromium(browser, page, tmp_path / "profile-shot", f"--screenshot={screenshot}", "--window-size=1400,2400")
    assert shot.returncode == 0, shot.stderr[-3000:]
    return dumped.stdout, screenshot


def assert_every_plot_drawn(page: str, dom: str) -> dict[str, bool]:
    expected = re.findall(rf'<div class="{PLOT_CLASS}" id="([^"]+)"', page)
    states = plot_render_states(dom)
    assert expected, "the page has no plot"
    assert list(states) == expected  # every plot div of the file is in the DOM, in order
    assert [plot for plot, drawn in states.items() if not drawn] == []
    assert plots_drawn_ms(dom) is not None  # the page's own "all plots drawn" mark
    return states


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, path


def test_every_section_s_plot_is_drawn_in_chromium(browser: str, tmp_path: Path) -> None:
    # Given a report with every section (parameters per trainer, fit time, cv spread, halving rungs, champion history)
    page = render_synthetic(100)
    path = tmp_path / "synthetic.html"
    path.write_text(page, encoding="utf-8")

    # When Chromium opens it
    dom, screenshot = open_in_browser(browser, path, tmp_path)

    # Then every plot was drawn, one per section and trainer, and the table kept every row
    states = assert_every_plot_drawn(page, dom)
    assert len(states) == 4 + 4  # four trainers' parameters + fit time, cv, rungs, champion
    for section in ("summary", "leaderboard", "parameters", "fit-time", "cv", "halving", "champion"):
        assert f'id="{section}"' in dom
    assert dom.count("<tr data-id=") == 100
    assert_png(screenshot)


def test_hpt_run_then_hpt_report_opens_offline_with_its_plots_drawn(
    browser: str, tmp_path: Path, small_config_file: Path, iris_npz: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a local run, and its report written by `hpt report` (default name, latest run)
    store = tmp_path / "store"
    assert main(["run", str(small_config_file), "--data", str(iris_npz), "--store", str(store), "--jobs", "1",
                 "--json"]) == 0
    run_id = re.search(r'"run_id": "([^"]+)"', capsys.readouterr().out)
    assert run_id is not None
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--store", str(store)]) == 0
    path = tmp_path / f"report-{run_id.group(1)}.html"
    page = path.read_text(encoding="utf-8")

    # When Chromium opens it
    dom, screenshot = open_in_browser(browser, path, tmp_path)

    # Then: both trainers' parameter plots, the fit-time plot and the dataset's champion history (this first run
    # promoted its winner) are drawn; the winner is named
    states = assert_every_plot_drawn(page, dom)
    assert len(states) == 4
    assert 'id="champion"' in dom
    assert 'class="winner-id"' in dom
    assert_png(screenshot)
