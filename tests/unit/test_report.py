"""The HTML report, from hand-built records: every experiment listed, the winner named, one plot per section whose
data is there (and none for the others), values drawn where they belong, and nothing fetched from the network."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hyperparameter_tuner.champion import ChampionDecision
from hyperparameter_tuner.records import Experiment, ExperimentStatus, Run, RunStatus
from hyperparameter_tuner.report import PLOT_CLASS, ReportError, plotly_js, render_report

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def make_run(cls: type[Run] = Run, **fields: Any) -> Run:
    defaults: dict[str, Any] = {
        "run_id": "run-1", "name": "unit", "status": RunStatus.SUCCEEDED, "perf_metric": "accuracy",
        "direction": "maximize", "data_uri": "data.npz", "data_fingerprint": "fp", "total": 0,
        "config": {"metrics": ["accuracy", "f1_macro"], "perf_metric": "accuracy",
                   "training_params": {"LogisticRegression": {"C": [0.01, 1.0, 100.0]},
                                       "KNeighborsClassifier": {"n_neighbors": [1, 5], "weights": ["uniform"]},
                                       "SVC": {}}},
    }  # fmt: skip
    return cls(**{**defaults, **fields})


def make_experiment(number: int, algo: str, params: dict[str, Any], score: float | None, *,
                    cls: type[Experiment] = Experiment, fit_time: float | None = 0.01, **fields: Any) -> Experiment:
    status = ExperimentStatus.SUCCEEDED if score is not None else ExperimentStatus.FAILED
    scores = {"validation": {"accuracy": score, "f1_macro": score - 0.01}} if score is not None else {}
    error: dict[str, Any] = {"error_type": "ValueError", "error": "bad fit"} if score is None else {}
    return cls(run_id="run-1", experiment_id=f"exp{number:04d}", index=number, algo=algo, params=params,
               data_fingerprint="fp", status=status, scores=scores, eval_split="validation", fit_time=fit_time,
               **error, **fields)


def grid_experiments() -> list[Experiment]:
    """Six experiments over three trainers, one failed; exp0001 scores best."""
    return [
        make_experiment(0, "LogisticRegression", {"C": 0.01}, 0.70, fit_time=0.02),
        make_experiment(1, "LogisticRegression", {"C": 1.0}, 0.97, fit_time=0.03),
        make_experiment(2, "LogisticRegression", {"C": 100.0}, 0.93, fit_time=0.05),
        make_experiment(3, "KNeighborsClassifier", {"n_neighbors": 1, "weights": "uniform"}, 0.90, fit_time=0.001),
        make_experiment(4, "KNeighborsClassifier", {"n_neighbors": 5, "weights": "uniform"}, None),
        make_experiment(5, "SVC", {}, 0.95, fit_time=0.004),
    ]


def figures(page: str) -> list[dict[str, Any]]:
    """Each plot's figure, in page order, from its inline JSON (checking every plot div has its JSON)."""
    divs = re.findall(rf'<div class="{PLOT_CLASS}" id="[^"]+" data-figure="([^"]+)"', page)
    specs = dict(re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', page))
    assert set(divs) == set(specs)
    return [json.loads(specs[name]) for name in divs]


def titles(page: str) -> list[str]:
    return [figure["layout"]["title"]["text"] for figure in figures(page)]


def leaderboard_ids(page: str) -> list[str]:
    body = page.split('id="hpt-leaderboard"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr data-id="([^"]+)"', body)


def render(run: Run, experiments: list[Experiment], **options: Any) -> str:
    return render_report(run, experiments, plotly_source="/* plotly */", generated_at=WHEN, **options)


def test_every_experiment_is_a_leaderboard_row_best_first_failed_last() -> None:
    experiments = grid_experiments()
    page = render(make_run(winner="exp0001", total=6), experiments)

    scored = sorted((e for e in experiments if e.status is ExperimentStatus.SUCCEEDED),
                    key=lambda e: -e.scores["validation"]["accuracy"])
    failed = [e.experiment_id for e in experiments if e.status is ExperimentStatus.FAILED]
    assert leaderboard_ids(page) == [e.experiment_id for e in scored] + failed
    assert '<table class="sortable" id="hpt-leaderboard">' in page and 'data-type="num"' in page
    assert "ValueError: bad fit" in page
    for e in experiments:
        assert page.count(e.experiment_id) >= 1


def test_winner_is_named_with_its_score_params_and_row() -> None:
    page = render(make_run(winner="exp0001", total=6), grid_experiments())

    card = page.split('id="winner"', 1)[1].split("</div>", 1)[0]
    assert "exp0001" in card and "LogisticRegression" in card and "C=1.0" in card and "0.97" in card
    assert '<tr data-id="exp0001" class="winner-row">' in page


def test_failed_run_shows_its_reason_and_no_winner() -> None:
    page = render(make_run(status=RunStatus.FAILED, reason="every experiment failed", total=1),
                  [make_experiment(0, "SVC", {}, None)])

    assert "No winner" in page and "every experiment failed" in page
    assert "class=\"winner-row\"" not in page
    assert leaderboard_ids(page) == ["exp0000"]


def test_one_plot_per_trainer_with_varied_params_plus_fit_time() -> None:
    experiments = grid_experiments()
    page = render(make_run(winner="exp0001", total=6), experiments)

    # LogisticRegression varies C; KNeighbors has one scored experiment (nothing varies); SVC has no parameter
    assert titles(page) == ["LogisticRegression: accuracy against each parameter (3 experiments)",
                            "accuracy against fit time"]
    assert page.count(f'class="{PLOT_CLASS}"') == 2
    logistic, fit_time = figures(page)
    (trace,) = logistic["data"]
    lr = [e for e in experiments if e.algo == "LogisticRegression"]
    assert trace["x"] == [e.params["C"] for e in lr]
    assert trace["y"] == [e.scores["validation"]["accuracy"] for e in lr]
    assert logistic["layout"]["xaxis"]["type"] == "log"  # 0.01 .. 100
    drawn = {(x, y) for t in fit_time["data"] if t["name"] != "winner" for x, y in zip(t["x"], t["y"], strict=True)}
    assert drawn == {(e.fit_time, e.scores["validation"]["accuracy"]) for e in experiments
                     if e.status is ExperimentStatus.SUCCEEDED}
    (star,) = [t for t in fit_time["data"] if t["name"] == "winner"]
    assert star["y"] == [0.97]
    for section in ('id="cv"', 'id="halving"', 'id="champion"'):
        assert section not in page


def test_categorical_params_get_a_category_axis_and_subplots_wrap() -> None:
    params = [{"a": a, "b": b, "c": c, "kernel": k} for a, b, c, k in
              [(1, 2, 3, "rbf"), (2, 3, 4, "linear"), (3, 4, 5, None)]]
    experiments = [make_experiment(i, "SVC", p, 0.5 + i / 10) for i, p in enumerate(params)]
    page = render(make_run(total=3), experiments)

    figure = figures(page)[0]
    assert len(figure["data"]) == 4
    kernel = figure["layout"]["xaxis4"]
    assert kernel["type"] == "category" and kernel["title"]["text"] == "kernel"
    assert figure["data"][3]["x"] == ["rbf", "linear", "null"]
    assert figure["layout"]["yaxis4"]["domain"][1] < figure["layout"]["yaxis"]["domain"][0]  # second row


def test_random_state_the_tuner_derived_is_not_plotted_unless_searched() -> None:
    experiments = [make_experiment(i, "LogisticRegression", {"C": c, "random_state": 100 + i}, 0.8 + i / 100)
                   for i, c in enumerate([0.1, 1.0])]
    page = render(make_run(total=2), experiments)
    assert [t["name"] for t in figures(page)[0]["data"]] == ["C"]

    searched = make_run(total=2, config={"metrics": ["accuracy"], "training_params": {
        "LogisticRegression": {"C": [0.1, 1.0], "random_state": [100, 101]}}})
    page = render(searched, experiments)
    assert [t["name"] for t in figures(page)[0]["data"]] == ["C", "random_state"]


def test_cv_section_shows_fold_mean_and_std() -> None:
    experiments = []
    for i, (mean, std) in enumerate([(0.9, 0.02), (0.95, 0.01), (0.8, 0.05)]):
        e = make_experiment(i, "LogisticRegression", {"C": 10.0 ** i}, None)
        e.status, e.eval_split = ExperimentStatus.SUCCEEDED, "cv"
        e.scores = {"cv": {"accuracy": mean, "f1_macro": mean}, "cv_std": {"accuracy": std, "f1_macro": std},
                    "validation": {"accuracy": 0.5, "f1_macro": 0.5}}
        experiments.append(e)
    run = make_run(total=3, winner="exp0001", config={**make_run().config, "cv": 5})
    page = render(run, experiments)

    cv = figures(page)[-1]
    assert cv["layout"]["title"]["text"].startswith("Cross-validation spread (5 folds)")
    (trace,) = cv["data"]
    order = sorted(experiments, key=lambda e: -e.scores["cv"]["accuracy"])
    assert trace["x"] == [1, 2, 3]
    assert trace["y"] == [e.scores["cv"]["accuracy"] for e in order]
    assert trace["error_y"]["array"] == [e.scores["cv_std"]["accuracy"] for e in order]
    assert "0.95 ± 0.01" in page  # the leaderboard shows mean ± std
    assert 'id="cv"' in page


def test_halving_rungs_plot_and_table_from_hand_built_records() -> None:
    experiments = [
        make_experiment(i, "SVC", {"C": c}, score, rung=rung, n_resources=resources)
        for i, (c, score, rung, resources) in enumerate(
            [(0.1, 0.6, 0, 30), (1.0, 0.7, 0, 30), (10.0, 0.8, 0, 30), (10.0, 0.9, 1, 90)])
    ]
    rungs = [{"rung": 0, "n_candidates": 3, "n_resources": 30}, {"rung": 1, "n_candidates": 1, "n_resources": 90}]
    run = make_run(total=4, winner="exp0003", rungs=rungs)
    page = render(run, experiments)

    halving = figures(page)[-1]
    assert halving["layout"]["title"]["text"] == "Successive halving: accuracy at each rung"
    (trace,) = halving["data"]
    assert trace["x"] == [0, 0, 0, 1] and trace["y"] == [0.6, 0.7, 0.8, 0.9]
    table = page.split('<table class="rungs">', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r'<td class="num">([^<]*)</td>', table)
    assert cells == ["0", "3", "30", "3", "0.8", "1", "1", "90", "1", "0.9"]
    assert "<th>rung</th>" not in page.split('id="hpt-leaderboard"')[0]
    assert '<th data-type="num" title="sort">rung</th>' in page  # the leaderboard gains rung and resources columns
    # rungs passed explicitly win over the run's own
    page = render(make_run(total=4), experiments, rungs=rungs[:1])
    assert page.split('<table class="rungs">', 1)[1].count("<tr>") == 2  # header + one rung


def test_champion_history_section() -> None:
    # champion_history's records: run-0 promoted "old" (its test score 0.91); run-1's winner did not beat it there
    common: dict[str, Any] = {"dataset": "d", "perf_metric": "accuracy", "direction": "maximize"}
    history = [
        ChampionDecision(decision="promoted", run_id="run-0", champion_experiment_id="old", challenger_score=0.91,
                         champion_score=0.80, decided_at=datetime(2026, 11, 1, tzinfo=UTC), **common).to_json(),
        ChampionDecision(decision="kept", run_id="run-1", champion_experiment_id="old", challenger_score=0.88,
                         champion_score=0.89, decided_at=datetime(2026, 11, 30, tzinfo=UTC), **common).to_json(),
    ]
    page = render(make_run(winner="exp0001", total=6), grid_experiments(), champion_history=history)

    champion = figures(page)[-1]
    assert champion["layout"]["title"]["text"] == "Champion history of the dataset"
    drawn = {(t["name"], x, y) for t in champion["data"] for x, y in zip(t["x"], t["y"], strict=True)}
    # each decision at the champion's score after it: the promoted challenger's, the kept champion's
    assert drawn == {("promoted", "2026-11-01T00:00:00+00:00", 0.91), ("kept", "2026-11-30T00:00:00+00:00", 0.89)}
    table = page.split('<table class="champions">', 1)[1]
    assert "run-0" in table and "old" in table and "promoted" in table
    assert 'id="champion"' not in render(make_run(total=6), grid_experiments(), champion_history=[])


def test_text_is_escaped_in_html_and_in_figure_json() -> None:
    evil = "</script><img src=x onerror=alert(1)>"
    experiments = [make_experiment(i, "SVC", {"kernel": evil if i else "rbf"}, 0.5 + i / 10) for i in range(2)]
    page = render(make_run(total=2, name=evil), experiments)

    assert evil not in page
    assert "&lt;/script&gt;&lt;img" in page
    assert figures(page)[0]["data"][0]["x"] == ["rbf", evil]  # the JSON carries the value intact


def test_page_is_self_contained_with_the_installed_plotly_js() -> None:
    page = render_report(make_run(winner="exp0001", total=6), grid_experiments())

    source = plotly_js()
    assert source in page and len(source) > 1_000_000
    assert not re.search(r'<(script|link|img)[^>]+(src|href)=', page)
    assert "http://" not in page.replace(source, "") and "https://" not in page.replace(source, "")


def test_missing_plotly_is_a_report_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ReportError, match="plotly is not installed"):
        render_report(make_run(total=0), [])


def test_rendering_imports_neither_numpy_nor_scikit_learn() -> None:
    probe = (
        "import sys\n"
        "from hyperparameter_tuner.records import Experiment, Run\n"
        "from hyperparameter_tuner.report import render_report\n"
        "run = Run(run_id='r', config={'metrics': ['accuracy']}, perf_metric='accuracy', direction='maximize',"
        " data_uri='d', data_fingerprint='f', total=1, status='SUCCEEDED', winner='e')\n"
        "e = Experiment(run_id='r', experiment_id='e', index=0, algo='SVC', params={'C': 1.0}, data_fingerprint='f',"
        " status='SUCCEEDED', scores={'test': {'accuracy': 1.0}}, fit_time=0.1)\n"
        "assert 'e' in render_report(run, [e])\n"
        "print(sorted(m for m in ('numpy', 'sklearn', 'scipy', 'plotly') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=120,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
