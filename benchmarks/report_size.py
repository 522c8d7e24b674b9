"""How big an ``hpt report`` page is, and how long headless Chromium takes to open it and draw every plot.

Synthetic records (no fitting): 100 and 2,000 experiments over four trainers with 5-fold CV and successive halving
rungs, and a champion history, so every section of the report is there. For each size it prints the HTML size
(plotly.js included) and the median time over ``--repeat`` runs of headless Chromium (Debian's ``chromium``, as the
tests use it) loading the file until every plot has drawn, against Chromium opening an empty page in the same run.

    .venv/bin/python benchmarks/report_size.py [--sizes 100 2000] [--repeat 3]

``--screenshot PNG`` instead makes the README's picture (``make report-screenshot``): the iris example tuned locally
with 5-fold CV, reported with ``hpt report``, its plots checked drawn, and shot in headless Chromium.

The tests import the helpers (:func:`synthetic_records`, :func:`find_chromium`, :func:`chromium`,
:func:`plot_render_states`) as ``benchmarks.report_size``.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from hyperparameter_tuner.champion import ChampionDecision
from hyperparameter_tuner.records import Experiment, ExperimentStatus, Run, RunStatus
from hyperparameter_tuner.report import PLOT_CLASS, render_report

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-crash-reporter",
    "--disable-extensions", "--hide-scrollbars",
)  # fmt: skip
ROOT = Path(__file__).resolve().parents[1]
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
TRAINERS: dict[str, dict[str, list[Any]]] = {
    "LogisticRegression": {"C": [10.0 ** k for k in range(-3, 4)], "penalty": ["l2", None]},
    "RandomForestClassifier": {"n_estimators": [25, 50, 100, 200], "max_depth": [2, 4, 8, None],
                               "min_samples_leaf": [1, 2, 5]},
    "KNeighborsClassifier": {"n_neighbors": list(range(1, 31)), "weights": ["uniform", "distance"]},
    "SVC": {"C": [10.0 ** k for k in range(-2, 4)], "kernel": ["linear", "rbf", "poly"], "gamma": ["scale", "auto"]},
}



def synthetic_records(n: int, seed: int = 0) -> tuple[Run, list[Experiment], list[dict[str, Any]],
                                                       list[dict[str, int]]]:
    """A SUCCEEDED run with ``n`` experiments (about 2% failed), 5-fold CV scores, three halving rungs and a
    champion history of eight decisions: ``(run, experiments, champion_history, rungs)``."""
    rng = random.Random(seed)
    names = list(TRAINERS)
    experiments: list[Experiment] = []
    rung_sizes = [n - n // 3 - n // 9, n // 3, n // 9]
    rungs = [{"rung": r, "n_candidates": size, "n_resources": 30 * 3 ** r} for r, size in enumerate(rung_sizes)]
    rung_of = [r for r, size in enumerate(rung_sizes) for _ in range(size)]
    for index in range(n):
        algo = names[index % len(names)]
        params = {name: rng.choice(values) for name, values in TRAINERS[algo].items()}
        rung = rung_of[index]
        mean = min(1.0, 0.55 + 0.1 * rung + rng.random() * 0.3)
        failed = rng.random() < 0.02
        scores = {} if failed else {
            "cv": {"accuracy": mean, "f1_macro": mean - 0.01}, "cv_std": {"accuracy": rng.random() * 0.05,
                                                                        "f1_macro": rng.random() * 0.05},
            "validation": {"accuracy": mean + 0.01, "f1_macro": mean}, "test": {"accuracy": mean, "f1_macro": mean},
        }  # fmt: skip
        experiments.append(Experiment(
            run_id="bench", experiment_id=f"{rng.getrandbits(64):016x}", index=index, algo=algo, params=params,
            data_fingerprint="fp", status=ExperimentStatus.FAILED if failed else ExperimentStatus.SUCCEEDED,
            scores=scores, eval_split="cv", fit_time=rng.lognormvariate(-3, 1), score_time=0.001,
            error_type="ValueError" if failed else None, error="synthetic failure" if failed else None,
            rung=rung, n_resources=rungs[rung]["n_resources"],
        ))
    scored = [e for e in experiments if e.status is ExperimentStatus.SUCCEEDED]
    winner = max(scored, key=lambda e: e.scores["cv"]["f1_macro"])
    start = datetime(2026, 11, 1, tzinfo=UTC)
    run = Run(
        run_id="bench", name=f"synthetic-{n}", status=RunStatus.SUCCEEDED, perf_metric="f1_macro",
        direction="maximize", data_uri="s3://bucket/datasets/bench/split.npz", data_fingerprint="fp", total=n,
        winner=winner.experiment_id, created_at=start, finished_at=start + timedelta(minutes=5),
        config={"metrics": ["accuracy", "f1_macro"], "perf_metric": "f1_macro", "cv": 5,
                "training_params": {name: {p: v for p, v in grid.items()} for name, grid in TRAINERS.items()}},
    )  # fmt: skip
    history = [ChampionDecision(dataset="bench", decision="promoted" if k % 3 == 0 else "kept", run_id=f"run-{k}",
                                champion_experiment_id=f"{rng.getrandbits(64):016x}", perf_metric="f1_macro",
                                direction="maximize", challenger_score=0.8 + 0.02 * k, champion_score=0.79 + 0.02 * k,
                                decided_at=start + timedelta(days=k)).to_json()
               for k in range(8)]  # fmt: skip
    return run, experiments, history, rungs


def render_synthetic(n: int, seed: int = 0) -> str:
    """The report page of :func:`synthetic_records` (every section present)."""
    run, experiments, history, rungs = synthetic_records(n, seed)
    return render_report(run, experiments, champion_history=history, rungs=rungs)


def find_chromium() -> str | None:
    """Path of a Chromium on PATH (Debian's ``chromium`` first), or ``None``."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium(binary: str, page: Path, profile: Path, *args: str, virtual_time: bool = True,
             timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on a local page with a fresh profile; ``args`` adds ``--dump-dom``, ``--screenshot=...``.

    With ``virtual_time``, ``--virtual-time-budget`` lets the page's scripts (plotly drawing every figure) finish
    before the DOM is dumped or the screenshot taken; without it, timers on the page run in real time (for timing).
    """
    budget = ["--virtual-time-budget=30000"] if virtual_time else []
    command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *budget, *args, page.resolve().as_uri()]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(profile)})


class _PlotStates(HTMLParser):
    """Each ``div.hpt-plot`` of a DOM, with whether plotly drew an ``svg.main-svg`` inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.plots: dict[str, bool] = {}
        self._open: list[tuple[str, str | None]] = []  # (tag, plot id) of every open element

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        current = next((plot for _, plot in reversed(self._open) if plot is not None), None)
        if tag == "div" and PLOT_CLASS in classes:
            current = attributes.get("id") or f"plot-{len(self.plots)}"
            self.plots[current] = False
        elif tag == "svg" and "main-svg" in classes and current is not None:
            self.plots[current] = True
        if tag not in VOID_TAGS:
            self._open.append((tag, current if tag == "div" and PLOT_CLASS in classes else None))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        before = len(self._open)
        self.handle_starttag(tag, attrs)
        del self._open[before:]

    def handle_endtag(self, tag: str) -> None:
        for position in range(len(self._open) - 1, -1, -1):
            if self._open[position][0] == tag:
                del self._open[position:]
                return


def plot_render_states(dom: str) -> dict[str, bool]:
    """Map each plot ``<div class="hpt-plot">`` id of a rendered DOM to whether it holds plotly's ``svg.main-svg``."""
    parser = _PlotStates()
    parser.feed(dom)
    return parser.plots


def plots_drawn_ms(dom: str) -> int | None:
    """Milliseconds from navigation start until every plot was drawn, as the page recorded it (``None`` if not)."""
    found = re.search(r'data-plots-drawn-ms="(\d+)"', dom)
    return int(found.group(1)) if found else None


def _open_seconds(binary: str, page: Path, repeat: int) -> tuple[float, float | None, int]:
    """Medians over ``repeat`` runs of Chromium's whole run on ``page`` (start, load, draw, dump, exit) and of the
    page's own time from navigation start until every plot was drawn (real time: no virtual time budget), with the
    number of plots drawn."""
    walls, drawn_ms, drawn = [], [], 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as profile:
            started = time.perf_counter()
            proc = chromium(binary, page, Path(profile), "--dump-dom", virtual_time=False)
            walls.append(time.perf_counter() - started)
        ms = plots_drawn_ms(proc.stdout)
        if ms is not None:
            drawn_ms.append(ms / 1000)
        drawn = sum(plot_render_states(proc.stdout).values())
    return statistics.median(walls), statistics.median(drawn_ms) if drawn_ms else None, drawn


def screenshot_example(output: Path, width: int = 1400, height: int = 2200) -> int:
    """Tune the iris example with ``cv: 5`` locally, write its report with ``hpt report``, check every plot is drawn
    in headless Chromium and save a screenshot to ``output``; return an exit status."""
    import yaml

    from hyperparameter_tuner.cli import main as hpt

    binary = find_chromium()
    if binary is None:
        print("error: no Chromium on PATH (bash .ci/tools.sh installs Debian's chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        config = yaml.safe_load((ROOT / "examples" / "iris.yaml").read_text())
        config["cv"] = 5
        (work / "iris-cv.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        store, page = work / "store", work / "report.html"
        tuned = subprocess.run([sys.executable, "-m", "hyperparameter_tuner.cli", "run", str(work / "iris-cv.yaml"),
                                "--data", str(ROOT / "examples" / "data" / "iris.npz"), "--store", str(store),
                                "--json"], stdout=subprocess.DEVNULL, check=False, timeout=900)
        if tuned.returncode != 0 or hpt(["report", "--store", str(store), "-o", str(page)]) != 0:
            return 1
        states = plot_render_states(chromium(binary, page, work / "profile-dom", "--dump-dom").stdout)
        if not states or not all(states.values()):
            print(f"error: plots not drawn: {states}", file=sys.stderr)
            return 1
        output.parent.mkdir(parents=True, exist_ok=True)
        shot = chromium(binary, page, work / "profile", f"--screenshot={output.resolve()}",
                        f"--window-size={width},{height}")
        if shot.returncode != 0 or not output.is_file():
            print(shot.stderr[-2000:], file=sys.stderr)
            return 1
    print(f"wrote {output} ({len(states)} plots drawn)", file=sys.stderr)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 2000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--screenshot", type=Path, metavar="PNG", help="write the README's picture of a report instead")
    args = parser.parse_args()
    if args.screenshot is not None:
        sys.exit(screenshot_example(args.screenshot))
    binary = find_chromium()
    with tempfile.TemporaryDirectory() as folder:
        blank = Path(folder) / "blank.html"
        blank.write_text("<!DOCTYPE html><html><body></body></html>")
        baseline = _open_seconds(binary, blank, args.repeat)[0] if binary else None
        print(f"{'experiments':>11} {'HTML bytes':>11} {'MB':>5} {'render s':>8} {'drawn s':>7} {'chromium s':>10} "
              f"{'plots':>5}")
        ratios = []
        for n in args.sizes:
            started = time.perf_counter()
            page = render_synthetic(n)
            rendered = time.perf_counter() - started
            path = Path(folder) / f"report-{n}.html"
            path.write_text(page, encoding="utf-8")
            size = path.stat().st_size
            plots = page.count(f'<div class="{PLOT_CLASS}"')
            if binary and baseline:
                wall, drawn_s, drawn = _open_seconds(binary, path, args.repeat)
                shown = f"{drawn_s:.2f}" if drawn_s is not None else "-"
                print(f"{n:>11,} {size:>11,} {size / 1e6:>5.2f} {rendered:>8.2f} {shown:>7} {wall:>10.2f} "
                      f"{drawn:>2}/{plots}")
                ratios.append(f"{n}: chromium {wall / baseline:.1f}x a blank page")
            else:
                print(f"{n:>11,} {size:>11,} {size / 1e6:>5.2f} {rendered:>8.2f} {'-':>7} {'no chromium':>10} "
                      f"{plots:>5}")
    if baseline is not None:
        print(f"chromium on a blank page: {baseline:.2f} s (process start and exit included); drawn s: the page's own "
              "time from navigation start until every plot was drawn")
    print("ratios: " + ("; ".join(ratios) if ratios else "no chromium on PATH (bash .ci/tools.sh installs it)"))


if __name__ == "__main__":
    main()
