"""Per-experiment overhead of the local engine, against the physical lower bound of the same run.

Usage: ``.venv/bin/python benchmarks/overhead.py [--quick] [--repeat N] [--jobs N]``

Runs ``hpt run`` (fresh process, fresh store) on the benchmark grid and reads the records back:

* ``work``       sum over experiments of ``fit_time + score_time`` (measured in the workers);
* ``bound``      ``work / jobs``: the wall time of a perfect engine with no overhead at all;
* ``engine``     the run's ``finished_at - created_at`` (grid expansion, pool, training, saving, winner), split
  into the start-up (run created -> first experiment started: importing the trainers, forking the workers)
  and the pool phase (first experiment started -> last one finished);
* ``process``    whole-process wall time (interpreter start, imports, data load, engine, JSON output);
* overhead per experiment: ``(jobs * engine - work) / N``, in worker-milliseconds, and the part of it spent
  inside the worker around the fit (``finished_at - started_at - fit_time - score_time``: scoring bookkeeping,
  serialising and saving the model, the records).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from _common import HPT, check_store, median, timed, write_inputs


def _measure(store: Path, run_id: str) -> dict[str, float]:
    with sqlite3.connect(store / "tuner.db") as conn:
        run = json.loads(conn.execute("SELECT doc FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0])
        docs = [json.loads(doc) for (doc,) in conn.execute("SELECT doc FROM experiments WHERE run_id = ?",
                                                           (run_id,))]
    work = sum(d["fit_time"] + d["score_time"] for d in docs)
    in_worker = sum(
        (datetime.fromisoformat(d["finished_at"]) - datetime.fromisoformat(d["started_at"])).total_seconds()
        - d["fit_time"] - d["score_time"]
        for d in docs
    )
    created = datetime.fromisoformat(run["created_at"])
    first = min(datetime.fromisoformat(d["started_at"]) for d in docs)
    last = max(datetime.fromisoformat(d["finished_at"]) for d in docs)
    engine = (datetime.fromisoformat(run["finished_at"]) - created).total_seconds()
    return {"work": work, "in_worker": in_worker, "engine": engine, "startup": (first - created).total_seconds(),
            "pool": (last - first).total_seconds(), "n": len(docs)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small grid")
    parser.add_argument("--repeat", type=int, default=3, help="runs (default: 3); medians are reported")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default: 2)")
    args = parser.parse_args(argv)

    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="hpt-overhead-") as tmp:
        work_dir = Path(tmp)
        config, data, n = write_inputs(work_dir, args.quick)
        for rep in range(args.repeat):
            store = work_dir / f"store-{rep}"
            elapsed, out = timed([HPT, "run", str(config), "--data", str(data), "--store", str(store),
                                  "--jobs", str(args.jobs), "--json"])
            run_id = json.loads(out)["run_id"]
            check_store(store, run_id, n)
            row = _measure(store, run_id)
            row["process"] = elapsed
            rows.append(row)
            print(f"  run {rep + 1}: process {elapsed:.2f} s, engine {row['engine']:.2f} s, "
                  f"fit+score {row['work']:.2f} s", flush=True)

    jobs = args.jobs
    for row in rows:  # derived per run, then the median of each: runs on a busy machine differ a lot
        row["bound"] = row["work"] / jobs
        row["per_exp"] = 1000 * (jobs * row["engine"] - row["work"]) / n
        row["pool_per_exp"] = 1000 * (jobs * row["pool"] - row["work"]) / n
        row["pool_ratio"] = row["pool"] / row["bound"]
        row["in_worker_per_exp"] = 1000 * row["in_worker"] / n
        row["work_per_exp"] = 1000 * row["work"] / n
        row["engine_ratio"] = row["engine"] / row["bound"]
        row["process_ratio"] = row["process"] / row["bound"]
    med = {key: median([row[key] for row in rows]) for key in rows[0]}
    print()
    print(f"{n} experiments, {jobs} workers, medians of {args.repeat} runs")
    print(f"{'quantity':<52} {'value':>10}")
    print(f"{'fit + score time, summed (s)':<52} {med['work']:10.2f}")
    print(f"{'lower bound = fit+score / workers (s)':<52} {med['bound']:10.2f}")
    print(f"{'engine wall: run created -> finished (s)':<52} {med['engine']:10.2f}")
    print(f"{'  run start -> first fit (import trainers, fork) (s)':<52} {med['startup']:10.2f}")
    print(f"{'  first fit start -> last model saved (s)':<52} {med['pool']:10.2f}")
    print(f"{'whole process wall (s)':<52} {med['process']:10.2f}")
    print(f"{'overhead per experiment, worker-ms':<52} {med['per_exp']:10.1f}")
    print(f"{'  excluding the start-up (pool phase only), worker-ms':<52} {med['pool_per_exp']:10.1f}")
    print(f"{'  in the worker around fit/score (save, records), ms':<52} {med['in_worker_per_exp']:10.1f}")
    print(f"{'mean fit+score per experiment, ms':<52} {med['work_per_exp']:10.1f}")
    print(f"ratios: pool/bound = {med['pool_ratio']:.2f}, engine/bound = {med['engine_ratio']:.2f}, "
          f"process/bound = {med['process_ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
