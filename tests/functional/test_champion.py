"""Champion/challenger through ``hpt run`` (twice, on changed data), ``hpt champion``, ``hpt promote`` and
``load_champion``; scores checked against scikit-learn computed here, independently."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

from hyperparameter_tuner import load_champion
from hyperparameter_tuner.cli import main
from hyperparameter_tuner.errors import IntegrityError, NotFoundError

DUMMY = {"name": "flowers", "training_params": {"DummyClassifier": {}}, "metrics": ["accuracy"],
         "perf_metric": "accuracy"}
LOGISTIC = {"name": "flowers", "training_params": {"LogisticRegression": {"C": [1.0]}},
            "trainer_config": {"LogisticRegression": {"max_iter": 1000}}, "metrics": ["accuracy"],
            "perf_metric": "accuracy"}


@pytest.fixture
def splits(tmp_path: Path, iris_arrays: dict[str, np.ndarray]) -> dict[str, Path]:
    """``a``: iris as the conftest splits it; ``b``: the same rows split otherwise (new data, same features);
    ``narrow``: ``b`` without its last feature (the champion of ``a`` cannot score it)."""
    paths = {"a": tmp_path / "a.npz", "b": tmp_path / "b.npz", "narrow": tmp_path / "narrow.npz"}
    save = np.savez  # one call per split; np.savez(path, **arrays) trips mypy#5382 (a **dict could fill allow_pickle)
    save(paths["a"], **iris_arrays)  # type: ignore[arg-type]
    X = np.concatenate([iris_arrays["X_train"], iris_arrays["X_val"], iris_arrays["X_test"]])
    y = np.concatenate([iris_arrays["y_train"], iris_arrays["y_val"], iris_arrays["y_test"]])
    order = np.random.default_rng(42).permutation(len(y))
    X, y = X[order], y[order]
    b = {"X_train": X[:100], "y_train": y[:100], "X_test": X[100:], "y_test": y[100:]}
    save(paths["b"], **b)  # type: ignore[arg-type]
    narrow = {name: (value[:, :3] if name.startswith("X") else value) for name, value in b.items()}
    save(paths["narrow"], **narrow)  # type: ignore[arg-type]
    return paths


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as arrays:
        return dict(arrays)


def run_json(capsys: pytest.CaptureFixture[str], config: Path, data: Path, store: Path,
             *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["run", str(config), "--data", str(data), "--store", str(store), "--jobs", "1", "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_first_run_promotes_its_winner_then_a_better_one_is_promoted_on_the_new_test_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], splits: dict[str, Path],
) -> None:
    store = tmp_path / "store"

    # Given a first run of the dataset (a DummyClassifier)
    code, first = run_json(capsys, write_config(DUMMY, "dummy.yaml"), splits["a"], store)
    assert code == 0
    champion = first["champion"]
    assert (first["dataset"], champion["dataset"], champion["decision"]) == ("flowers", "flowers", "first")
    assert champion["champion_experiment_id"] == first["winner"]["experiment_id"]
    assert champion["champion_score"] is None and champion["previous_experiment_id"] is None
    (winner,) = first["experiments"]
    assert champion["challenger_score"] == winner["scores"]["test"]["accuracy"]

    # When a second run, on new data, has a better winner
    code, second = run_json(capsys, write_config(LOGISTIC, "logistic.yaml"), splits["b"], store)

    # Then it is promoted, and both scores are on the second run's test split, as scikit-learn computes them
    assert code == 0
    decision = second["champion"]
    assert decision["decision"] == "promoted"
    assert decision["previous_experiment_id"] == first["winner"]["experiment_id"]
    assert decision["champion_experiment_id"] == second["winner"]["experiment_id"]
    a, b = load(splits["a"]), load(splits["b"])
    old = DummyClassifier().fit(a["X_train"], a["y_train"])
    new = LogisticRegression(C=1.0, max_iter=1000).fit(b["X_train"], b["y_train"])
    assert decision["champion_score"] == pytest.approx(accuracy_score(b["y_test"], old.predict(b["X_test"])))
    assert decision["challenger_score"] == pytest.approx(accuracy_score(b["y_test"], new.predict(b["X_test"])))

    # And hpt champion shows the new champion and both decisions
    assert main(["champion", "flowers", "--store", str(store), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["champion"]["experiment_id"] == second["winner"]["experiment_id"]
    assert shown["champion"]["model_uri"] == second["winner"]["model_uri"]
    assert (shown["champion"]["algo"], shown["champion"]["version"]) == ("LogisticRegression", 2)
    assert [(entry["decision"], entry["run_id"]) for entry in shown["history"]] == [
        ("first", first["run_id"]), ("promoted", second["run_id"])
    ]
    # and load_champion returns that model, verified
    model = load_champion("flowers", store=store)
    np.testing.assert_array_equal(model.predict(b["X_test"]), new.predict(b["X_test"]))


@pytest.mark.parametrize(("margin", "expected"), [(0.9, "kept"), (0.1, "promoted")])
def test_promotion_margin_decides_in_the_metrics_units(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], splits: dict[str, Path],
    margin: float, expected: str,
) -> None:
    # Given a DummyClassifier champion (about 1/3 accuracy) and a logistic regression challenger (above 0.9)
    store = tmp_path / "store"
    run_json(capsys, write_config(DUMMY, "dummy.yaml"), splits["a"], store)

    # When the challenger must beat it by more than the margin
    code, second = run_json(capsys, write_config({**LOGISTIC, "promotion_margin": margin}, "lr.yaml"), splits["b"],
                            store)

    # Then: 0.9 + 1/3 is out of reach (kept); 0.1 is not (promoted)
    assert code == 0
    decision = second["champion"]
    assert decision["challenger_score"] - decision["champion_score"] > 0.5
    assert (decision["decision"], decision["promotion_margin"]) == (expected, margin)
    current = decision["champion_experiment_id"]
    assert (current == second["winner"]["experiment_id"]) is (expected == "promoted")


def test_a_champion_that_cannot_score_the_new_features_is_replaced_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], splits: dict[str, Path],
) -> None:
    store = tmp_path / "store"
    config = write_config(LOGISTIC, "lr.yaml")
    code, first = run_json(capsys, config, splits["b"], store)

    code, second = run_json(capsys, config, splits["narrow"], store)

    decision = second["champion"]
    assert (code, decision["decision"], decision["champion_score"]) == (0, "promoted", None)
    assert decision["reason"].startswith(f"champion {first['winner']['experiment_id']} could not be scored on this"
                                         " run's test split: ValueError")
    assert "features" in decision["reason"]


def test_a_failed_run_never_promotes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], splits: dict[str, Path],
) -> None:
    store = tmp_path / "store"
    run_json(capsys, write_config(DUMMY, "dummy.yaml"), splits["a"], store)
    broken = {**LOGISTIC, "training_params": {"LogisticRegression": {"C": [-1.0]}}}  # every fit fails

    code, failed = run_json(capsys, write_config(broken, "broken.yaml"), splits["b"], store)

    assert (code, failed["status"], failed["champion"]) == (1, "FAILED", None)
    assert main(["champion", "flowers", "--store", str(store), "--json"]) == 0
    assert [entry["decision"] for entry in json.loads(capsys.readouterr().out)["history"]] == ["first"]


def test_rerunning_the_same_grid_on_the_same_data_keeps_the_champion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], splits: dict[str, Path],
) -> None:
    store = tmp_path / "store"
    config = write_config(LOGISTIC, "lr.yaml")
    run_json(capsys, config, splits["b"], store)

    _, again = run_json(capsys, config, splits["b"], store)

    decision = again["champion"]
    assert (decision["decision"], decision["reason"]) == ("kept", "the winner is the champion already")
    # both scores are the one model's accuracy on b's test split, as scikit-learn computes it
    b = np.load(splits["b"])
    model = LogisticRegression(C=1.0, max_iter=1000).fit(b["X_train"], b["y_train"])
    expected = accuracy_score(b["y_test"], model.predict(b["X_test"]))
    assert decision["champion_score"] == pytest.approx(expected) and decision["challenger_score"] == pytest.approx(
        expected)


def test_the_dataset_defaults_to_the_config_name_else_the_data_stem_and_can_be_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], splits: dict[str, Path],
) -> None:
    store = tmp_path / "store"
    unnamed = write_config({key: value for key, value in DUMMY.items() if key != "name"}, "unnamed.yaml")

    assert run_json(capsys, unnamed, splits["a"], store)[1]["champion"]["dataset"] == "a"
    assert run_json(capsys, write_config(DUMMY, "d.yaml"), splits["a"], store)[1]["dataset"] == "flowers"
    assert run_json(capsys, unnamed, splits["a"], store, "--dataset", "iris-prod")[1]["dataset"] == "iris-prod"


def test_text_output_says_the_decision_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], splits: dict[str, Path],
) -> None:
    store = tmp_path / "store"
    main(["run", str(write_config(DUMMY, "dummy.yaml")), "--data", str(splits["a"]), "--store", str(store),
          "--jobs", "1"])
    main(["run", str(write_config(LOGISTIC, "lr.yaml")), "--data", str(splits["b"]), "--store", str(store),
          "--jobs", "1"])

    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("champion of flowers")]
    assert len(lines) == 2
    assert "(first successful run; test accuracy=" in lines[0]
    assert " promoted over " in lines[1] and "margin 0)" in lines[1]


def test_promote_by_hand_is_recorded_as_manual(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], splits: dict[str, Path],
) -> None:
    store = tmp_path / "store"
    _, first = run_json(capsys, write_config(DUMMY, "dummy.yaml"), splits["a"], store)
    _, second = run_json(capsys, write_config(LOGISTIC, "lr.yaml"), splits["b"], store)

    # When the first winner is promoted back by hand
    assert main(["promote", first["winner"]["experiment_id"], "--dataset", "flowers", "--store", str(store)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"champion of flowers: {first['winner']['experiment_id']} (promoted by hand over"
        f" {second['winner']['experiment_id']})"
    )

    # Then it is the champion, and the history says it was manual
    assert main(["champion", "flowers", "--store", str(store), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["champion"]["experiment_id"] == first["winner"]["experiment_id"]
    assert [entry["decision"] for entry in shown["history"]] == ["first", "promoted", "manual"]
    assert isinstance(load_champion("flowers", store=store), DummyClassifier)
    # and the text view lists the history
    assert main(["champion", "flowers", "--store", str(store)]) == 0
    text = capsys.readouterr().out
    assert f"champion of flowers: {first['winner']['experiment_id']} DummyClassifier" in text
    assert "manual" in text


def test_an_altered_champion_model_is_never_unpickled_and_is_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], splits: dict[str, Path],
) -> None:
    store = tmp_path / "store"
    _, first = run_json(capsys, write_config(DUMMY, "dummy.yaml"), splits["a"], store)
    model_file = Path(first["winner"]["model_uri"].removeprefix("file://"))
    model_file.write_bytes(b"not the model")

    with pytest.raises(IntegrityError, match="does not match the recorded"):
        load_champion("flowers", store=store)
    _, second = run_json(capsys, write_config(LOGISTIC, "lr.yaml"), splits["b"], store)
    assert second["champion"]["decision"] == "promoted"
    assert "its model cannot be loaded" in second["champion"]["reason"]


@pytest.mark.parametrize("argv", [
    ["champion", "nosuch"],
    ["champion", "bad name"],
    ["promote", "0123456789abcdef", "--dataset", "flowers"],
    ["promote", "0123456789abcdef", "--dataset", "bad/name"],
    ["promote", "0123456789abcdef"],
    ["champion", "flowers", "--store", "S", "--stack", "T"],
])
def test_bad_champion_input_is_one_error_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], splits: dict[str, Path],
    argv: list[str],
) -> None:
    store = tmp_path / "store"
    run_json(capsys, write_config(DUMMY, "dummy.yaml"), splits["a"], store)
    if "--store" not in argv:
        argv = [*argv, "--store", str(store)]

    code = main(argv)

    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err


def test_a_bad_dataset_name_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], splits: dict[str, Path],
) -> None:
    store = tmp_path / "store"

    code = main(["run", str(write_config(DUMMY, "dummy.yaml")), "--data", str(splits["a"]), "--store", str(store),
                 "--dataset", "no spaces please"])

    captured = capsys.readouterr()
    assert code == 2 and captured.err.startswith("error: dataset: 'no spaces please' is not a valid dataset name")
    assert not store.exists()


def test_load_champion_of_an_unknown_dataset_or_store(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no tuner store"):
        load_champion("flowers", store=tmp_path / "nothing")


def test_with_score_test_false_the_challenger_is_scored_on_test_for_the_decision_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], splits: dict[str, Path],
) -> None:
    # Given a split with validation, and a config that leaves the test split unscored during the run
    store = tmp_path / "store"

    _, first = run_json(capsys, write_config({**LOGISTIC, "score_test": False}, "lr.yaml"), splits["a"], store)

    # Then no experiment has test scores, but the decision scored the winner on test, as scikit-learn does
    assert "test" not in first["experiments"][0]["scores"]
    a = load(splits["a"])
    model = LogisticRegression(C=1.0, max_iter=1000).fit(a["X_train"], a["y_train"])
    expected = accuracy_score(a["y_test"], model.predict(a["X_test"]))
    assert first["champion"]["challenger_score"] == pytest.approx(expected)
    assert main(["champion", "flowers", "--store", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["champion"]["scores"] == {"accuracy": pytest.approx(expected)}


def test_the_report_shows_the_datasets_champion_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], splits: dict[str, Path],
) -> None:
    # Given two runs of one dataset: the first winner, then a better one promoted over it
    store = tmp_path / "store"
    _, first = run_json(capsys, write_config(DUMMY, "dummy.yaml"), splits["a"], store)
    _, second = run_json(capsys, write_config(LOGISTIC, "lr.yaml"), splits["b"], store)
    assert (first["champion"]["decision"], second["champion"]["decision"]) == ("first", "promoted")

    # When the latest run's report is written
    out = tmp_path / "report.html"
    assert main(["report", "--store", str(store), "-o", str(out)]) == 0

    # Then its champion section lists both decisions with the champions they made, in order
    page = out.read_text()
    section = page[page.index('<section id="champion">'):]
    section = section[:section.index("</section>")]
    first_id, second_id = first["winner"]["experiment_id"], second["winner"]["experiment_id"]
    assert section.index(first_id) < section.index(second_id)
    assert "<td>first</td>" in section and "<td>promoted</td>" in section
