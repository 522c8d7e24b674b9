"""Terminal rendering for the CLI: the live progress bar and the leaderboard table (rich)."""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from .planning import Plan
from .records import Experiment, ExperimentStatus, Run, RunStatus
from .results import RunResult, leaderboard_rows, run_warnings

__all__ = ["RunProgress", "champion_line", "make_console", "print_champion", "print_leaderboard", "print_plan",
           "print_summary", "print_warnings"]


def make_console(stderr: bool = False) -> Console:
    """A console; when output is not a terminal (a pipe, a file), wide enough that tables stay readable."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 160
    return Console(stderr=stderr, width=width)


class _CountsColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        failed = int(task.fields.get("failed", 0))
        done = int(task.completed) - failed
        remaining = int((task.total or 0) - task.completed)
        reused = int(task.fields.get("reused", 0))
        text = Text(f"{done} done", style="green")
        text.append(" / ")
        text.append(f"{failed} failed", style="red" if failed else "dim")
        text.append(f" / {remaining} remaining")
        if reused:
            text.append(f" ({reused} reused)", style="dim")
        return text


class RunProgress:
    """A live progress bar fed with finished experiments: done / failed / remaining, elapsed, ETA."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]tuning"), BarColumn(), _CountsColumn(), TextColumn("elapsed"), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), console=console, transient=False,
        )
        self._task: Any = None
        self._failed = 0

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def start(self, total: int, reused: int) -> None:
        """Begin the bar for ``total`` experiments, ``reused`` of which need no training."""
        self._task = self._progress.add_task("tuning", total=total, failed=0, reused=reused)

    def advance(self, experiment: Experiment) -> None:
        """Count one finished experiment."""
        if experiment.status is ExperimentStatus.FAILED:
            self._failed += 1
        self._progress.update(self._task, advance=1, failed=self._failed)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, dict):
        return json.dumps(value, separators=(", ", "="))[1:-1].replace('"', "")
    return str(value)


def print_leaderboard(console: Console, run: Run, experiments: list[Experiment], limit: int | None = None) -> None:
    """Print the leaderboard: rank, trainer, params, every metric on the performance split, status, fit time."""
    rows = leaderboard_rows(run, experiments)
    if not rows:
        console.print("no experiments")
        return
    rank_column = next(iter(rows[0]))
    split = rank_column.removeprefix("rank_").removesuffix(f"_{run.perf_metric}")
    metrics = list(run.config.get("metrics", [run.perf_metric]))
    table = Table(title=f"run {run.run_id}: {run.status.value} — best {run.perf_metric} ({run.direction}) on {split}")
    table.add_column("rank", justify="right")
    if run.rungs:
        table.add_column("rung (resources)", justify="right")
    table.add_column("trainer")
    table.add_column("params", overflow="fold")
    for metric in metrics:
        table.add_column(metric + (" *" if metric == run.perf_metric else ""), justify="right")
    table.add_column("status")
    table.add_column("fit s", justify="right")
    shown = rows if limit is None else rows[:limit]
    winner = run.winner if run.status is RunStatus.SUCCEEDED else None  # a FAILED run has no winner to highlight
    for row in shown:
        status = row["status"] + (" (reused)" if row["reused"] else "")
        style = "bold green" if row["experiment_id"] == winner else ("red" if row["status"] == "FAILED" else None)
        rung = [f"{row['rung']} ({row['n_resources']})"] if run.rungs else []
        table.add_row(
            _fmt(row[rank_column]), *rung, row["algo"], _fmt(row["params"]),
            *[_score(row, split, metric) for metric in metrics],
            status if row["error"] is None else f"{status}: {row['error'][:80]}", _fmt(row["fit_time"]),
            style=style,
        )
    console.print(table)
    if limit is not None and len(rows) > limit:
        console.print(f"... {len(rows) - limit} more (hpt leaderboard {run.run_id} --csv FILE for all)")


def _score(row: dict[str, Any], split: str, metric: str) -> str:
    """A leaderboard cell: the metric on the split, and with cv the fold mean ± its standard deviation."""
    value = _fmt(row.get(f"{split}_{metric}"))
    std = row.get(f"cv_std_{metric}") if split == "cv" else None
    return value if std is None else f"{value} ± {_fmt(std)}"


def print_warnings(console: Console, experiments: list[Experiment]) -> None:
    """One ``warning:`` line per run-level warning (selection on test, fit warnings)."""
    for message in run_warnings(experiments):
        console.print(f"[yellow]warning[/yellow]: {escape(message)}")


def print_summary(console: Console, result: RunResult) -> None:
    """One closing paragraph: counts, warnings, then the winner and its model, or why the run FAILED."""
    counts = result.counts
    console.print(
        f"{result.run.total} experiments: {counts['SUCCEEDED']} succeeded, {counts['FAILED']} failed, "
        f"{counts['reused']} reused"
    )
    if result.run.rungs:
        console.print("halving rungs: " + ", ".join(
            f"{r['rung']}: {r['n_candidates']} candidates x {r['n_resources']} {result.run.search.get('resource')}"
            for r in result.run.rungs))
    print_warnings(console, result.experiments)
    winner = result.winner
    if winner is None:
        console.print(f"[red]run {escape(result.run.status.value)}[/red]: {escape(str(result.run.reason))}")
        return
    value = winner.metrics.get(result.run.perf_metric)
    console.print(
        f"[bold green]winner[/bold green] {winner.experiment_id}: {escape(winner.algo)}({escape(_fmt(winner.params))}) "
        f"{result.run.perf_metric}={_fmt(value)}"
    )
    if winner.artifact is not None:
        console.print(f"model: {winner.artifact.uri}  sha256={winner.artifact.sha256[:16]}…")
    if result.run.champion is not None:
        console.print(champion_line(result.run.champion), highlight=False, soft_wrap=True)  # one line, any width


def champion_line(decision: dict[str, Any]) -> str:
    """One line saying what a run's champion decision was (``decision`` as in the run JSON's ``champion``)."""
    dataset, metric = decision.get("dataset"), decision.get("perf_metric")
    challenger, champion = _fmt(decision.get("challenger_score")), _fmt(decision.get("champion_score"))
    previous, current = decision.get("previous_experiment_id"), decision.get("champion_experiment_id")
    margin = decision.get("promotion_margin") or 0
    text = {
        "first": f"champion of {dataset}: {current} (first successful run; test {metric}={challenger})",
        "promoted": f"champion of {dataset}: {current} promoted over {previous} (test {metric} {challenger} vs"
                    f" {champion}, margin {_fmt(margin)})",
        "kept": f"champion of {dataset}: {current} kept (test {metric} {champion}; challenger {challenger},"
                f" margin {_fmt(margin)})",
        "manual": f"champion of {dataset}: {current} (promoted by hand)",
    }.get(str(decision.get("decision")), f"champion of {dataset}: {current}")
    reason = decision.get("reason")
    if reason and decision.get("decision") != "first":
        text += f": {reason}"
    return escape(text)


def print_plan(console: Console, plan: Plan) -> None:
    """The plan as a small table (the estimate), the limit checks, and every figure it assumed instead of measuring."""
    table = Table(title="plan", show_header=False)
    table.add_column("what")
    table.add_column("estimate")
    per_trainer = ", ".join(f"{name} {_fmt(value)} s" for name, value in plan.fit_seconds.items())
    rows = [
        ("search", plan.strategy),
        ("experiments", f"{plan.experiments:,}"),
        ("batches (trainer invocations)", f"{plan.batches:,} of up to {plan.batch_size} experiments"),
        ("invocations per experiment", f"{plan.invocations_per_experiment:.3f}"),
        ("state transitions", f"{plan.state_transitions:,} ({plan.transitions_per_experiment:.3f} per experiment; "
                              "counts measured on an emulated run)"),
        ("max concurrency", str(plan.max_concurrency)),
        ("fit + score per experiment", f"{per_trainer} (measured: {plan.fit_source})"),
        ("trainer memory", f"{plan.trainer_memory_mb} MB"),
        ("Lambda GB-seconds", _fmt(plan.lambda_gb_seconds)),
        ("longest batch", "-" if plan.longest_batch_seconds is None else f"{plan.longest_batch_seconds:.1f} s"),
        ("wall time (est.)", "-" if plan.wall_seconds is None else f"{plan.wall_seconds:.0f} s"),
    ]
    for rung in plan.rungs:
        rows.append((f"rung {rung['rung']}", f"{rung['n_candidates']:,} candidates x {rung['n_resources']:,} resources"
                                             f" in {rung['batches']:,} batches"))
    if plan.saving is not None:
        change = (f"{plan.saving:.0%} fewer" if plan.saving >= 0 else
                  f"{-plan.saving:.0%} more (per-batch cold starts outweigh the smaller fits)")
        rows.append(("halving vs the full grid", f"{change} trainer GB-seconds than every candidate at full "
                                                 f"resources ({_fmt(plan.grid_equivalent_gb_seconds)})"))
    if plan.cost_usd is not None:
        rows += [(f"cost: {name}", f"${value:.4f}") for name, value in plan.cost_usd.items()]
        rows.append(("cost: total", f"${plan.total_cost_usd:.4f}"))
    for what, value in rows:
        table.add_row(what, value)
    console.print(table)
    for check in plan.checks:
        mark = {True: "[green]ok[/green]", False: "[red]FAIL[/red]", None: "[yellow]?[/yellow]"}[check.ok]
        console.print(f"{mark} {check.name}: {check.detail}")
    if plan.assumptions:
        console.print("assumed, not measured:")
        for assumption in plan.assumptions:
            console.print(f"  [yellow]assumption[/yellow] {assumption.name}: {assumption.value} ({assumption.detail})",
                          markup=True, highlight=False)


def print_champion(console: Console, described: dict[str, Any]) -> None:
    """``hpt champion``: the current champion (as ``describe_champion`` returns it), then one line per decision."""
    champion = described["champion"]
    console.print(f"[bold]champion of {escape(described['dataset'])}[/bold]: {champion['experiment_id']} "
                  f"{escape(champion['algo'])}({escape(_fmt(champion['params']))}) from run {champion['run_id']}")
    scores = ", ".join(f"{name}={_fmt(value)}" for name, value in champion["scores"].items())
    console.print(f"test scores when promoted: {escape(scores) or '-'}", highlight=False)
    console.print(f"model: {champion['model_uri']}  sha256={(champion['sha256'] or '-')[:16]}…", highlight=False)
    table = Table(title="history")
    for column in ("version", "decided", "decision", "run", "champion", "challenger score", "champion score",
                   "reason"):
        table.add_column(column, overflow="fold")
    for entry in described["history"]:
        table.add_row(str(entry["version"]), str(entry["decided_at"])[:19], entry["decision"],
                      entry.get("run_id") or "-", entry["champion_experiment_id"], _fmt(entry.get("challenger_score")),
                      _fmt(entry.get("champion_score")), escape(entry.get("reason") or ""))
    console.print(table)
