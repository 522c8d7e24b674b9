"""How well ``hpt plan --data`` predicts fit + score time per experiment: the plan's estimate against ``hpt run``.

For each example (iris on its ``.npz``, diabetes on its CSV folder) and each repeat: ``hpt plan CONFIG --data DATA
--json`` (a few sample fits per trainer, under the same thread limit as every experiment), then ``hpt run CONFIG
--data DATA --jobs N --json`` into a fresh store and ``hpt leaderboard --csv`` for each experiment's recorded
``fit_time + score_time``. The ratio estimate / measured is printed per trainer (the plan's seconds against the
trainer's mean) and per example (sum of estimate x experiments against the sum measured); medians over repeats.

``--jobs 1`` (the default) times experiments one after another in one process, as a trainer Lambda runs a batch;
``--jobs 2`` shows the local pool, where experiments share this machine's cores with each other (and with anything
else running), which the plan does not model.

    .venv/bin/python benchmarks/plan_accuracy.py [--repeat 3] [--jobs 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HPT = Path(sys.executable).with_name("hpt")
EXAMPLES = {
    "iris": (ROOT / "examples" / "iris.yaml", ROOT / "examples" / "data" / "iris.npz"),
    "diabetes": (ROOT / "examples" / "diabetes.yaml", ROOT / "examples" / "data" / "diabetes"),
}
ENV = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}


def _hpt(*args: str, cwd: Path) -> str:
    proc = subprocess.run([str(HPT), *args], capture_output=True, text=True, cwd=cwd, env=ENV, check=False)
    if proc.returncode not in (0, 1):  # plan exits 1 when a limit fails, which does not change its fit times
        raise SystemExit(f"hpt {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def planned(config: Path, data: Path, cwd: Path) -> dict[str, float]:
    """The plan's seconds per experiment (fit + score) for each trainer."""
    plan: dict[str, Any] = json.loads(_hpt("plan", str(config), "--data", str(data), "--json", cwd=cwd))
    return {name: float(value) for name, value in plan["fit_seconds"].items()}


def measured(config: Path, data: Path, jobs: int, cwd: Path) -> dict[str, list[float]]:
    """Each experiment's recorded fit + score seconds in a fresh ``hpt run``, by trainer."""
    store, table = cwd / "store", cwd / "leaderboard.csv"
    result = json.loads(_hpt("run", str(config), "--data", str(data), "--store", str(store), "--jobs", str(jobs),
                             "--json", cwd=cwd))
    assert result["status"] == "SUCCEEDED", result["status"]
    _hpt("leaderboard", "--store", str(store), "--csv", str(table), cwd=cwd)
    times: dict[str, list[float]] = defaultdict(list)
    with table.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["status"] == "SUCCEEDED" and row["reused"] == "False":
                times[row["algo"]].append(float(row["fit_time"]) + float(row["score_time"]))
    return dict(times)


def compare(name: str, repeat: int, jobs: int) -> dict[str, Any]:
    """Median ratios (estimate / measured) per trainer and for the whole example over ``repeat`` rounds."""
    config, data = EXAMPLES[name]
    per_trainer: dict[str, list[float]] = defaultdict(list)
    totals: list[float] = []
    estimates: dict[str, list[float]] = defaultdict(list)
    means: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="hpt-plan-accuracy-") as tmp:
            estimate = planned(config, data, Path(tmp))
            times = measured(config, data, jobs, Path(tmp))
        for trainer, values in times.items():
            mean = statistics.fmean(values)
            per_trainer[trainer].append(estimate[trainer] / mean)
            estimates[trainer].append(estimate[trainer])
            means[trainer].append(mean)
        totals.append(sum(estimate[t] * len(v) for t, v in times.items()) / sum(sum(v) for v in times.values()))
    return {
        "total": statistics.median(totals),
        "trainers": {t: (statistics.median(estimates[t]), statistics.median(means[t]), statistics.median(r))
                     for t, r in per_trainer.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    if not all(data.exists() for _, data in EXAMPLES.values()):
        subprocess.run([sys.executable, str(ROOT / "examples" / "make_data.py")], check=True)
    summary = []
    for name in EXAMPLES:
        result = compare(name, args.repeat, args.jobs)
        print(f"{name} (hpt run --jobs {args.jobs}, {args.repeat} repeats; seconds per experiment, fit + score)")
        print(f"  {'trainer':<28} {'plan':>8} {'measured':>9} {'ratio':>6}  (medians; ratio: of each repeat's ratio)")
        for trainer, (estimate, mean, ratio) in sorted(result["trainers"].items()):
            print(f"  {trainer:<28} {estimate:8.4f} {mean:9.4f} {ratio:6.2f}")
        ratios = [ratio for _, _, ratio in result["trainers"].values()]
        within = all(0.5 <= r <= 2.0 for r in [*ratios, result["total"]])
        print(f"  whole grid: {result['total']:.2f}; {'within' if within else 'NOT within'} 2x")
        summary.append(f"{name} {result['total']:.2f} (trainers {min(ratios):.2f}-{max(ratios):.2f})")
    print("ratios: plan/measured " + ", ".join(summary))


if __name__ == "__main__":
    main()
