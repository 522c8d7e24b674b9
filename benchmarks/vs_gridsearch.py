"""Whole-process wall time of ``hpt run`` against ``GridSearchCV`` (and Optuna's ``GridSampler``).

Usage: ``.venv/bin/python benchmarks/vs_gridsearch.py [--quick] [--repeat N] [--jobs N]``

Every side runs as a fresh subprocess on the same candidates (``_common.grid``: three scikit-learn families,
264 fits; ``--quick``: 19), the same holdout (train -> validation), the same scorers and the same number of
workers. Repeats alternate the sides; medians are reported. hpt additionally scores the test split, saves
every model and writes every record: after each hpt run the store is checked for N succeeded experiments and
N model files. See ``_sides.py`` for exactly what the other sides run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _common import HERE, HPT, PYTHON, check_store, median, timed, write_inputs


def _has_optuna() -> bool:
    try:
        import optuna  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="19 candidates instead of 264")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side (default: 3)")
    parser.add_argument("--jobs", type=int, default=2, help="workers on every side (default: 2)")
    args = parser.parse_args(argv)

    sides = ["hpt", "hpt-val", "gridsearch"] + (["optuna"] if _has_optuna() else [])
    times: dict[str, list[float]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="hpt-bench-") as tmp:
        work = Path(tmp)
        config, data, n = write_inputs(work, args.quick)
        print(f"{n} candidates, 3 families, {args.jobs} workers, {args.repeat} repeats (alternating)")
        for rep in range(args.repeat):
            for side in sides:
                if side.startswith("hpt"):
                    store = work / f"store-{side}-{rep}"
                    side_config = config if side == "hpt" else config.with_name("config-validation-only.json")
                    elapsed, out = timed([HPT, "run", str(side_config), "--data", str(data), "--store", str(store),
                                          "--jobs", str(args.jobs), "--json"])
                    result = json.loads(out)
                    check_store(store, result["run_id"], n)
                else:
                    elapsed, out = timed([PYTHON, str(HERE / "_sides.py"), side, str(config), str(data),
                                          "--jobs", str(args.jobs)])
                    fits = json.loads(out)["fits"]
                    if fits < n:
                        raise SystemExit(f"{side}: {fits} fits, expected {n}")
                times[side].append(elapsed)
                print(f"  run {rep + 1} {side:<10} {elapsed:7.2f} s", flush=True)

    base = median(times["gridsearch"])
    print()
    print(f"{'side':<40} {'median s':>9} {'per fit ms':>11} {'vs GridSearchCV':>16}")
    labels = {"hpt": f"hpt run --jobs {args.jobs} (saves {n} models)",
              "hpt-val": "  same, score_test: false (GridSearchCV's work)",
              "gridsearch": f"GridSearchCV n_jobs={args.jobs} (loky)",
              "optuna": f"Optuna GridSampler n_jobs={args.jobs} (threads)"}
    for side in sides:
        m = median(times[side])
        print(f"{labels[side]:<40} {m:9.2f} {1000 * m / n:11.1f} {m / base:16.2f}")
    for side in ("hpt", "hpt-val"):
        paired = ", ".join(f"{h / g:.2f}" for h, g in zip(times[side], times["gridsearch"], strict=True))
        print(f"{side}/GridSearchCV per repeat: {paired}")
    ratios = [f"hpt/GridSearchCV = {median(times['hpt']) / base:.2f}",
              f"hpt(score_test: false)/GridSearchCV = {median(times['hpt-val']) / base:.2f}"]
    if "optuna" in times:
        ratios.append(f"hpt/Optuna = {median(times['hpt']) / median(times['optuna']):.2f}")
    else:
        print("optuna not installed")
    print("ratios: " + ", ".join(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
