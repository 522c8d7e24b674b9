"""A run as one self-contained HTML file: summary and winner, a sortable leaderboard, and plotly plots.

:func:`render_report` is pure: records in, an HTML string out. The page needs nothing from the network (no CDN):
plotly.js is inlined from the installed ``plotly`` Python package (:func:`plotly_js`, found without importing
plotly), each figure is inline JSON drawn by ``Plotly.newPlot``, and the table sorts and filters with a few lines of
inline JavaScript. Nothing here imports numpy or scikit-learn, so the AWS Report function runs it on the tuner layer
plus a layer holding plotly.js only.

Sections, each present only when its data is:

* summary: run id, status, selection metric and direction, counts, data, the winner (or why the run FAILED);
* leaderboard: every experiment (ranked ones first, best first, then failed ones with their error);
* the selection metric against each searched parameter, one figure per trainer (Optuna's slice plot);
* the selection metric against fit time;
* with ``cv``: each experiment's fold mean with its standard deviation (fold-level values are not stored);
* with successive halving (experiments carry ``rung`` and ``n_resources``): the score at each rung, and the rungs;
* with champion history: the dataset's champion value over time, and each decision.
"""

from __future__ import annotations

import html
import importlib.util
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import TunerError
from .records import Experiment, ExperimentStatus, Run, RunStatus
from .results import RunResult, json_safe, leaderboard_rows, run_warnings, to_strict_json

__all__ = ["PLOT_CLASS", "ReportError", "plotly_js", "render_report"]

PLOT_CLASS = "hpt-plot"
"""CSS class of every plot's ``<div>``: plotly draws an ``<svg class="main-svg">`` inside each one."""

_MAX_PARAM_COLUMNS = 3
_LOG_RATIO = 100.0  # a positive numeric axis spanning this ratio or more is drawn on a log scale


class ReportError(TunerError):
    """The report cannot be rendered (plotly.js is not installed)."""


def plotly_js() -> str:
    """Return the source of ``plotly.min.js`` shipped inside the installed ``plotly`` Python package.

    The file is located with :func:`importlib.util.find_spec`, which does not run plotly's ``__init__``: the
    Report function's layer ships plotly.js only, not plotly's Python dependencies.

    Raises
    ------
    ReportError
        When the ``plotly`` package (or its ``package_data/plotly.min.js``) is not installed.
    """
    spec = importlib.util.find_spec("plotly")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(location) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise ReportError("plotly is not installed (pip install plotly): the report inlines its plotly.min.js")


# -- small helpers -----------------------------------------------------------------------------------------------

def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _field(entry: Any, *names: str, default: Any = None) -> Any:
    """The first of ``names`` that ``entry`` (a mapping or an object) has and is not ``None``."""
    for name in names:
        value = entry.get(name) if isinstance(entry, Mapping) else getattr(entry, name, None)
        if value is not None:
            return value
    return default


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(value: Any, digits: int = 4) -> str:
    number = _finite(value)
    if number is None:
        return "" if value is None else str(value)
    return f"{number:.{digits}g}" if abs(number) < 1e5 else f"{number:.4e}"


def _compact(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={to_strict_json(value, indent=None)}" for key, value in params.items())


def _script_json(payload: Any) -> str:
    """JSON safe to place inside ``<script>``: no ``</script>``, no HTML comment, no NaN."""
    text = json.dumps(json_safe(payload), separators=(",", ":"), default=str, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _axis_type(values: Sequence[Any]) -> str:
    numbers = [_finite(v) for v in values]
    if not values or any(n is None for n in numbers):
        return "category"
    present = [n for n in numbers if n is not None]
    low, high = min(present), max(present)
    return "log" if low > 0 and high / low >= _LOG_RATIO else "linear"


def _axis_value(value: Any, axis_type: str) -> Any:
    if axis_type == "category":
        return to_strict_json(value, indent=None) if not isinstance(value, str) else value
    return value


def _hover(e: Experiment, score: float | None, metric: str) -> str:
    return (f"{_esc(e.experiment_id)}<br>{_esc(e.algo)}<br>{_esc(_compact(e.params)) or '(defaults)'}"
            f"<br>{_esc(metric)}={_fmt(score)}")


class _Figures:
    """Collects the page's figures: each is a ``<div>`` plus its JSON, drawn by one loop at the end."""

    def __init__(self) -> None:
        self.specs: list[str] = []

    def add(self, figure: dict[str, Any], title: str, height: int = 420) -> str:
        number = len(self.specs)
        figure.setdefault("layout", {})
        figure["layout"].update(title={"text": title}, height=height, margin={"t": 60, "l": 60, "r": 20, "b": 60},
                                hovermode="closest")
        self.specs.append(f'<script type="application/json" id="hpt-figure-{number}">{_script_json(figure)}</script>')
        return (f'<div class="{PLOT_CLASS}" id="hpt-plot-{number}" data-figure="hpt-figure-{number}" '
                f'data-title="{_esc(title)}"></div>')


# -- the sections ------------------------------------------------------------------------------------------------

def _summary(run: Run, result: RunResult, generated_at: datetime) -> str:
    counts = result.counts
    winner = result.winner
    rows = [
        ("run id", f"<code>{_esc(run.run_id)}</code>"),
        ("name", _esc(run.name or "")),
        ("status", f'<span class="status {_esc(run.status.value)}">{_esc(run.status.value)}</span>'),
        ("selection metric", f"{_esc(run.perf_metric)} ({_esc(run.direction)})"),
        ("experiments", f"{run.total} planned: {counts['SUCCEEDED']} succeeded, {counts['FAILED']} failed, "
                        f"{counts['RUNNING']} running, {counts['reused']} reused"),
        ("data", f"<code>{_esc(run.data_uri)}</code>"),
        ("started", _esc(run.created_at.isoformat(timespec="seconds"))),
        ("finished", _esc(run.finished_at.isoformat(timespec="seconds") if run.finished_at else "")),
    ]
    search = run.search
    if isinstance(search, Mapping) and search:
        rows.append(("search", _esc(_compact(search))))
    if run.config.get("cv"):
        rows.append(("cross-validation", f"{_esc(run.config['cv'])} folds on the training split"))
    table = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows if value)
    if winner is not None:
        value = winner.metrics.get(run.perf_metric)
        card = (
            f'<div class="winner" id="winner"><h3>Winner</h3>'
            f'<p class="score">{_esc(run.perf_metric)} = <b>{_fmt(value, 6)}</b>'
            f'{_cv_suffix(winner, run.perf_metric)}</p>'
            f"<p><b>{_esc(winner.algo)}</b> <code>{_esc(_compact(winner.params)) or '(defaults)'}</code></p>"
            f'<p>experiment <code class="winner-id">{_esc(winner.experiment_id)}</code></p>'
            + (f"<p>model <code>{_esc(winner.artifact.uri)}</code></p>" if winner.artifact else "")
            + "</div>"
        )
    else:
        card = (f'<div class="winner failed" id="winner"><h3>No winner</h3>'
                f"<p>{_esc(run.reason or 'the run has not finished')}</p></div>")
    warnings = "".join(f"<li>{_esc(w)}</li>" for w in run_warnings(result.experiments))
    notes = f'<ul class="warnings">{warnings}</ul>' if warnings else ""
    stamp = generated_at.astimezone(UTC).isoformat(timespec="seconds")
    return (f'<section id="summary"><h2>Run</h2><div class="cards"><table class="facts">{table}</table>{card}</div>'
            f'{notes}<p class="generated">generated {_esc(stamp)}</p></section>')


def _cv_suffix(e: Experiment, metric: str) -> str:
    std = _finite(e.scores.get("cv_std", {}).get(metric))
    return f" ± {_fmt(std)} <small>(cv fold mean ± std)</small>" if "cv" in e.scores and std is not None else ""


def _leaderboard(run: Run, experiments: list[Experiment]) -> str:
    rows = leaderboard_rows(run, experiments)
    by_id = {e.experiment_id: e for e in experiments}
    rank_column = next(iter(rows[0])) if rows else "rank"
    metrics = [str(m) for m in run.config.get("metrics", [run.perf_metric])]
    metrics = [run.perf_metric, *[m for m in metrics if m != run.perf_metric]]
    has_cv = any("cv" in e.scores for e in experiments)
    has_test = any("test" in e.scores for e in experiments) and any(e.eval_split != "test" for e in experiments)
    has_rungs = any(e.rung is not None for e in experiments)
    eval_split = next((e.eval_split for e in experiments), "test")
    headers: list[tuple[str, str]] = [("rank", "num"), ("experiment", "text"), ("trainer", "text")]
    if has_rungs:
        headers += [("rung", "num"), ("resources", "num")]
    headers.append(("params", "text"))
    headers += [(f"{eval_split} {m}" + (" (mean ± std)" if has_cv and eval_split == "cv" else ""), "num")
                for m in metrics]
    if has_test:
        headers.append((f"test {run.perf_metric}", "num"))
    headers += [("fit time (s)", "num"), ("status", "text"), ("error", "text")]
    head = "".join(f'<th data-type="{kind}" title="sort">{_esc(label)}</th>' for label, kind in headers)
    body: list[str] = []
    for row in rows:
        e = by_id[row["experiment_id"]]
        rank = row[rank_column]
        cells = [_num_cell(rank, str(rank) if rank is not None else ""),
                 f"<td><code>{_esc(e.experiment_id)}</code></td>", f"<td>{_esc(e.algo)}</td>"]
        if has_rungs:
            cells += [_num_cell(e.rung), _num_cell(e.n_resources)]
        cells.append(f"<td><code>{_esc(_compact(e.params))}</code></td>")
        for metric in metrics:
            value = e.metrics.get(metric)
            text = _fmt(value)
            std = _finite(e.scores.get("cv_std", {}).get(metric)) if e.eval_split == "cv" else None
            cells.append(_num_cell(value, f"{text} ± {_fmt(std)}" if std is not None and text else text))
        if has_test:
            cells.append(_num_cell(e.scores.get("test", {}).get(run.perf_metric)))
        cells.append(_num_cell(e.fit_time, _fmt(e.fit_time, 3)))
        cells.append(f'<td class="status {_esc(e.status.value)}">{_esc(e.status.value)}'
                     + (" (reused)" if e.reused_from else "") + "</td>")
        cells.append(f"<td>{_esc(row['error'] or '')}</td>")
        winner = ' class="winner-row"' if e.experiment_id == run.winner and run.status is RunStatus.SUCCEEDED else ""
        body.append(f'<tr data-id="{_esc(e.experiment_id)}"{winner}>{"".join(cells)}</tr>')
    return (
        f'<section id="leaderboard"><h2>Leaderboard <small>{len(rows)} experiments; click a column to sort</small>'
        f'</h2><input id="hpt-filter" type="search" placeholder="filter rows (trainer, parameter, id...)">'
        f'<div class="table-wrap"><table class="sortable" id="hpt-leaderboard"><thead><tr>{head}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></div></section>'
    )


def _num_cell(value: Any, text: str | None = None) -> str:
    number = _finite(value)
    sort = "" if number is None else f' data-v="{number!r}"'
    return f'<td class="num"{sort}>{_esc(_fmt(value) if text is None else text)}</td>'


def _scored(run: Run, experiments: Iterable[Experiment]) -> list[tuple[Experiment, float]]:
    found = []
    for e in experiments:
        value = _finite(e.metrics.get(run.perf_metric))
        if e.status is ExperimentStatus.SUCCEEDED and value is not None:
            found.append((e, value))
    return found


def _by_trainer(scored: list[tuple[Experiment, float]]) -> dict[str, list[tuple[Experiment, float]]]:
    groups: dict[str, list[tuple[Experiment, float]]] = {}
    for e, value in scored:
        groups.setdefault(e.algo, []).append((e, value))
    return groups


def _searched_names(value: Any) -> set[str]:
    """Every parameter name a config's ``training_params`` searches (``{trainer: {name: ...}}`` or a list of them)."""
    if isinstance(value, Mapping):
        return {str(name) for name in value}
    if isinstance(value, list):
        return {name for item in value for name in _searched_names(item)}
    return set()


def _param_figures(run: Run, scored: list[tuple[Experiment, float]], figures: _Figures) -> str:
    parts: list[str] = []
    training_params = run.config.get("training_params")
    searched = {name for grid in (training_params or {}).values() for name in _searched_names(grid)} \
        if isinstance(training_params, Mapping) else set()
    for algo, group in _by_trainer(scored).items():
        # random_state is derived by the tuner from the seed unless the config searches it: not a parameter to read
        names = sorted({name for e, _ in group for name in e.params if name != "random_state" or name in searched})
        varied = [n for n in names if len({to_strict_json(e.params.get(n), indent=None) for e, _ in group}) > 1]
        if not varied:
            parts.append(f'<p class="note">{_esc(algo)}: no parameter varies ({len(group)} experiment'
                         f'{"s" if len(group) != 1 else ""}); see the leaderboard.</p>')
            continue
        columns = min(_MAX_PARAM_COLUMNS, len(varied))
        rows = math.ceil(len(varied) / columns)
        gap_x, gap_y = 0.08, 0.22 / rows
        layout: dict[str, Any] = {"showlegend": False, "annotations": []}
        data: list[dict[str, Any]] = []
        for number, name in enumerate(varied):
            row, column = divmod(number, columns)
            suffix = "" if number == 0 else str(number + 1)
            x0 = column / columns + (gap_x / 2 if column else 0)
            x1 = (column + 1) / columns - (gap_x / 2 if column < columns - 1 else 0)
            y1 = 1 - row / rows - (gap_y / 2 if row else 0)
            y0 = 1 - (row + 1) / rows + (gap_y / 2 if row < rows - 1 else 0)
            values = [e.params.get(name) for e, _ in group]
            kind = _axis_type(values)
            layout[f"xaxis{suffix}"] = {"domain": [x0, x1], "anchor": f"y{suffix}", "type": kind,
                                        "title": {"text": name}, "automargin": True}
            layout[f"yaxis{suffix}"] = {"domain": [y0, y1], "anchor": f"x{suffix}", "automargin": True,
                                        "title": {"text": run.perf_metric if column == 0 else ""}}
            data.append({
                "type": "scatter", "mode": "markers", "name": name, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
                "x": [_axis_value(v, kind) for v in values], "y": [value for _, value in group],
                "text": [_hover(e, value, run.perf_metric) for e, value in group], "hoverinfo": "text",
                "marker": {"size": 8, "opacity": 0.75, "color": [value for _, value in group],
                           "colorscale": "Viridis", "showscale": number == 0,
                           "colorbar": {"title": {"text": run.perf_metric}}},
            })
        title = f"{algo}: {run.perf_metric} against each parameter ({len(group)} experiments)"
        parts.append(figures.add({"data": data, "layout": layout}, title, height=max(360, 320 * rows)))
    if not parts:
        return ""
    return (f'<section id="parameters"><h2>{_esc(run.perf_metric)} against each parameter</h2>'
            f'{"".join(parts)}</section>')


def _fit_time_figure(run: Run, scored: list[tuple[Experiment, float]], figures: _Figures) -> str:
    timed = [(e, v) for e, v in scored if _finite(e.fit_time) is not None]
    if not timed:
        return ""
    data = []
    for algo, group in _by_trainer(timed).items():
        data.append({"type": "scatter", "mode": "markers", "name": algo,
                     "x": [e.fit_time for e, _ in group], "y": [v for _, v in group],
                     "text": [_hover(e, v, run.perf_metric) for e, v in group], "hoverinfo": "text",
                     "marker": {"size": 8, "opacity": 0.75}})
    winner = next(((e, v) for e, v in timed if e.experiment_id == run.winner), None)
    if winner is not None and run.status is RunStatus.SUCCEEDED:
        data.append({"type": "scatter", "mode": "markers", "name": "winner", "x": [winner[0].fit_time],
                     "y": [winner[1]], "text": [_hover(winner[0], winner[1], run.perf_metric)], "hoverinfo": "text",
                     "marker": {"symbol": "star", "size": 18, "color": "gold", "line": {"width": 1, "color": "black"}}})
    layout = {"xaxis": {"title": {"text": "fit time (s)"}, "type": _axis_type([e.fit_time for e, _ in timed])},
              "yaxis": {"title": {"text": run.perf_metric}}}
    plot = figures.add({"data": data, "layout": layout}, f"{run.perf_metric} against fit time")
    return f'<section id="fit-time"><h2>Score against fit time</h2>{plot}</section>'


def _cv_figure(run: Run, scored: list[tuple[Experiment, float]], figures: _Figures) -> str:
    with_cv = [(e, v) for e, v in scored if "cv" in e.scores]
    if not with_cv:
        return ""
    ordered = sorted(with_cv, key=lambda item: item[1], reverse=run.direction == "maximize")
    position = {e.experiment_id: number for number, (e, _) in enumerate(ordered, start=1)}
    data = []
    for algo, group in _by_trainer(ordered).items():
        stds = [_finite(e.scores.get("cv_std", {}).get(run.perf_metric)) or 0.0 for e, _ in group]
        data.append({"type": "scatter", "mode": "markers", "name": algo,
                     "x": [position[e.experiment_id] for e, _ in group], "y": [v for _, v in group],
                     "error_y": {"type": "data", "array": stds, "visible": True, "thickness": 1},
                     "text": [_hover(e, v, run.perf_metric) + f" ± {_fmt(s)}" for (e, v), s in zip(group, stds,
                                                                                                   strict=True)],
                     "hoverinfo": "text", "marker": {"size": 7}})
    folds = run.config.get("cv")
    layout = {"xaxis": {"title": {"text": "experiments, best first"}},
              "yaxis": {"title": {"text": f"{run.perf_metric}: fold mean ± std"}}}
    plot = figures.add({"data": data, "layout": layout},
                       f"Cross-validation spread ({folds} folds): mean ± std of {run.perf_metric}")
    return (f'<section id="cv"><h2>Cross-validation spread</h2><p class="note">Each experiment\'s fold mean with '
            f"its standard deviation across folds (the per-fold values are not stored).</p>{plot}</section>")


def _rungs_section(run: Run, scored: list[tuple[Experiment, float]], rungs: Sequence[Any], figures: _Figures) -> str:
    in_rungs = [(e, v) for e, v in scored if e.rung is not None]
    if not in_rungs and not rungs:
        return ""
    parts: list[str] = []
    if in_rungs:
        data = []
        for algo, group in _by_trainer(in_rungs).items():
            data.append({"type": "scatter", "mode": "markers", "name": algo,
                         "x": [e.rung for e, _ in group], "y": [v for _, v in group],
                         "text": [_hover(e, v, run.perf_metric) + f"<br>rung {e.rung}, "
                                  f"{e.n_resources} resources" for e, v in group],
                         "hoverinfo": "text", "marker": {"size": 8, "opacity": 0.75}})
        layout = {"xaxis": {"title": {"text": "rung"}, "dtick": 1},
                  "yaxis": {"title": {"text": run.perf_metric}}}
        parts.append(figures.add({"data": data, "layout": layout},
                                 f"Successive halving: {run.perf_metric} at each rung"))
    if rungs:
        recorded: dict[Any, list[float]] = {}
        for e, value in in_rungs:
            recorded.setdefault(e.rung, []).append(value)
        pick = max if run.direction == "maximize" else min
        lines = []
        for entry in rungs:
            number = _field(entry, "rung")
            values = recorded.get(number, [])
            lines.append(f'<tr><td class="num">{_esc(number)}</td><td class="num">{_esc(_field(entry, "n_candidates"))}'
                         f'</td><td class="num">{_esc(_field(entry, "n_resources"))}</td>'
                         f'<td class="num">{len(values)}</td><td class="num">{_fmt(pick(values)) if values else ""}'
                         f"</td></tr>")
        parts.append('<table class="rungs"><thead><tr><th>rung</th><th>candidates</th><th>resources</th>'
                     f"<th>scored</th><th>best {_esc(run.perf_metric)}</th></tr></thead>"
                     f'<tbody>{"".join(lines)}</tbody></table>')
    return f'<section id="halving"><h2>Successive halving rungs</h2>{"".join(parts)}</section>'


def _history_until(run: Run, history: Sequence[Any]) -> list[Any]:
    """The dataset's decisions as of this run: up to and including its own decision, so the report of an older run
    does not show what later runs decided (all of them when the run has no decision in the history)."""
    mine = [i for i, entry in enumerate(history) if _field(entry, "run_id") == run.run_id]
    return list(history[: mine[-1] + 1]) if mine else list(history)


def _champion_section(run: Run, history: Sequence[Any], figures: _Figures) -> str:
    if not history:
        return ""
    points = []
    for number, entry in enumerate(history, start=1):
        when = _field(entry, "decided_at")
        decision = str(_field(entry, "decision", default=""))
        points.append({
            "order": number,
            "when": when.isoformat(timespec="seconds") if isinstance(when, datetime) else when,
            "run_id": _field(entry, "run_id", default=""),
            "experiment_id": _field(entry, "champion_experiment_id", default=""),
            # the champion's score after the decision, on that run's test split (a manual promotion has none)
            "value": _finite(_field(entry, "champion_score" if decision == "kept" else "challenger_score")),
            "decision": decision,
            "metric": _field(entry, "perf_metric", default=run.perf_metric),
        })
    use_time = all(point["when"] for point in points)
    x_key = "when" if use_time else "order"
    data = []
    for decision in dict.fromkeys(point["decision"] for point in points):
        chosen = [p for p in points if p["decision"] == decision]
        data.append({"type": "scatter", "mode": "lines+markers" if decision in ("promoted", "champion") else "markers",
                     "name": decision or "run", "x": [p[x_key] for p in chosen], "y": [p["value"] for p in chosen],
                     "text": [f"run {_esc(p['run_id'])}<br>{_esc(p['experiment_id'])}<br>{_esc(p['decision'])}"
                              f"<br>{_esc(p['metric'])}={_fmt(p['value'])}" for p in chosen],
                     "hoverinfo": "text", "marker": {"size": 10}})
    layout = {"xaxis": {"title": {"text": "decided at" if use_time else "decision"}},
              "yaxis": {"title": {"text": str(points[0]["metric"])}}}
    plot = figures.add({"data": data, "layout": layout}, "Champion history of the dataset")
    rows = "".join(
        f"<tr><td>{_esc(p['when'] or p['order'])}</td><td><code>{_esc(p['run_id'])}</code></td>"
        f"<td><code>{_esc(p['experiment_id'])}</code></td><td>{_esc(p['decision'])}</td>"
        f'<td class="num">{_fmt(p["value"])}</td></tr>'
        for p in points
    )
    table = ('<table class="champions"><thead><tr><th>when</th><th>run</th><th>experiment</th><th>decision</th>'
             f"<th>value</th></tr></thead><tbody>{rows}</tbody></table>")
    return f'<section id="champion"><h2>Champion history</h2>{plot}{table}</section>'


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#b9c2d0;font-size:13px}
main{padding:8px 24px 40px;max-width:1400px}section{background:#fff;border-radius:8px;padding:12px 16px;
margin:16px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}h2{font-size:17px;margin:4px 0 12px}h2 small{font-weight:400;
color:#667}.cards{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}.facts th{text-align:left;
padding:2px 12px 2px 0;color:#556;font-weight:500}.winner{border:2px solid #2e9d5b;border-radius:8px;
padding:8px 16px;min-width:280px}.winner.failed{border-color:#c0392b}.winner h3{margin:4px 0}.score{font-size:18px}
.status.SUCCEEDED{color:#1e7e45}.status.FAILED{color:#c0392b}.status.RUNNING{color:#b9770e}
.warnings{color:#8a5300}.generated{color:#889;font-size:12px}.note{color:#556;font-size:13px}
.table-wrap{max-height:640px;overflow:auto;border:1px solid #e3e6ea}table.sortable{border-collapse:collapse;
font-size:13px;width:100%}table.sortable th{position:sticky;top:0;background:#eef1f5;cursor:pointer;
text-align:left;padding:6px 8px;white-space:nowrap;user-select:none}table.sortable th.asc::after{content:" \\25B2"}
table.sortable th.desc::after{content:" \\25BC"}table.sortable td{padding:4px 8px;border-top:1px solid #eef0f3;
vertical-align:top}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.winner-row{background:#e8f6ee;font-weight:600}#hpt-filter{margin:0 0 8px;padding:6px;width:320px}
.rungs,.champions{border-collapse:collapse;font-size:13px;margin-top:8px}.rungs td,.rungs th,.champions td,
.champions th{padding:4px 10px;border-top:1px solid #eef0f3;text-align:left}.hpt-plot{width:100%}
code{font-size:12px}
"""

_SCRIPT = """
(function(){
  var plots=document.querySelectorAll('div.__PLOT_CLASS__'), drawn=[];
  plots.forEach(function(div){
    var figure=JSON.parse(document.getElementById(div.dataset.figure).textContent);
    drawn.push(Plotly.newPlot(div,figure.data,figure.layout,{responsive:true,displaylogo:false}).then(function(){
      div.setAttribute('data-rendered','true');
    }));
  });
  Promise.all(drawn).then(function(){  // when every plot is drawn, milliseconds since navigation started
    document.body.setAttribute('data-plots-drawn-ms',String(Math.round(performance.now())));
  });
  var table=document.getElementById('hpt-leaderboard');
  if(table){
    var heads=table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads,function(th,column){
      th.addEventListener('click',function(){
        var asc=!th.classList.contains('asc');
        Array.prototype.forEach.call(heads,function(h){h.classList.remove('asc','desc');});
        th.classList.add(asc?'asc':'desc');
        var numeric=th.dataset.type==='num', body=table.tBodies[0];
        var rows=Array.prototype.slice.call(body.rows);
        rows.sort(function(a,b){
          var x=a.cells[column], y=b.cells[column], d;
          if(numeric){
            var p=x.dataset.v, q=y.dataset.v;
            if(p===undefined||q===undefined){return (p===undefined)-(q===undefined);}
            d=parseFloat(p)-parseFloat(q);
          }else{d=x.textContent.localeCompare(y.textContent);}
          return asc?d:-d;
        });
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
    var filter=document.getElementById('hpt-filter');
    filter.addEventListener('input',function(){
      var words=filter.value.toLowerCase().split(/\\s+/).filter(Boolean);
      Array.prototype.forEach.call(table.tBodies[0].rows,function(r){
        var text=r.textContent.toLowerCase();
        r.style.display=words.every(function(w){return text.indexOf(w)>=0;})?'':'none';
      });
    });
  }
})();
""".replace("__PLOT_CLASS__", PLOT_CLASS)


def render_report(
    run: Run,
    experiments: Iterable[Experiment],
    *,
    champion_history: Sequence[Any] | None = None,
    rungs: Sequence[Any] | None = None,
    plotly_source: str | None = None,
    generated_at: datetime | None = None,
) -> str:
    """Render a run as one self-contained HTML page (plotly.js, styles and scripts inline; nothing fetched).

    Parameters
    ----------
    run : Run
        The run record.
    experiments : iterable of Experiment
        The run's experiment records, in any order. Every one of them is a row of the leaderboard.
    champion_history : sequence, optional
        The dataset's champion decisions, oldest first, as :func:`~hyperparameter_tuner.champion.champion_history`
        returns them (mappings or :class:`~hyperparameter_tuner.champion.ChampionDecision` objects); shown up to
        this run's own decision when it has one, each plotted at the champion's score after it. Omitted (no section)
        when ``None`` or empty.
    rungs : sequence, optional
        Successive halving's rungs, ``[{rung, n_candidates, n_resources}]``; by default the run's own ``rungs``
        when it has them. Experiments carrying ``rung`` and ``n_resources`` are plotted by rung either way.
    plotly_source : str, optional
        The plotly.js source to inline; by default :func:`plotly_js` (the installed plotly package's).
    generated_at : datetime, optional
        The time printed on the page (default: now).

    Returns
    -------
    str
        The HTML document. Each plot is a ``<div class="hpt-plot">``; plotly draws it when the page opens.

    Raises
    ------
    ReportError
        When ``plotly_source`` is not given and plotly is not installed.

    Examples
    --------
    >>> from hyperparameter_tuner.records import Experiment, Run
    >>> run = Run(run_id="r1", config={"metrics": ["accuracy"]}, perf_metric="accuracy", direction="maximize",
    ...           data_uri="iris.npz", data_fingerprint="f", total=1)
    >>> e = Experiment(run_id="r1", experiment_id="e1", index=0, algo="SVC", params={"C": 1.0}, data_fingerprint="f")
    >>> page = render_report(run, [e], plotly_source="")
    >>> page.startswith("<!DOCTYPE html>") and "e1" in page
    True
    """
    result = RunResult.collect(run, experiments)
    ordered = result.experiments
    figures = _Figures()
    scored = _scored(run, ordered)
    if rungs is None:
        rungs = run.rungs
    sections = [
        _summary(run, result, generated_at or datetime.now(UTC)),
        _leaderboard(run, ordered),
        _param_figures(run, scored, figures),
        _fit_time_figure(run, scored, figures),
        _cv_figure(run, scored, figures),
        _rungs_section(run, scored, rungs, figures),
        _champion_section(run, _history_until(run, champion_history or []), figures),
    ]
    source = plotly_js() if plotly_source is None else plotly_source
    source = source.replace("</script", "<\\/script")  # cannot close the inline <script> early
    title = f"hpt report: {run.name or run.run_id}"
    subtitle = (f"run {run.run_id} · {run.status.value} · {len(ordered)} experiments · "
                f"{run.perf_metric} ({run.direction})")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,'
        f'initial-scale=1"><title>{_esc(title)}</title><style>{_STYLE}</style>'
        f"<script>{source}</script></head>"
        f"<body><header><h1>{_esc(title)}</h1><p>{_esc(subtitle)}</p></header><main>"
        + "".join(sections)
        + "</main>"
        + "".join(figures.specs)
        + f"<script>{_SCRIPT}</script></body></html>\n"
    )
