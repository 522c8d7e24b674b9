"""``hpt run`` and ``hpt leaderboard`` on the local engine, in-process (plus one run of the installed entry point)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hyperparameter_tuner.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
RUN_KEYS = {"run_id", "status", "perf_metric", "direction", "winner", "experiments"}
WINNER_KEYS = {"experiment_id", "algo", "params", "metrics", "model_uri"}
EXPERIMENT_KEYS = {"experiment_id", "algo", "params", "status", "metrics", "error"}


def _run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["run", *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)  # the whole of stdout is one JSON object


def _assert_usage_error(code: int, captured: Any) -> str:
    assert code == 2
    assert captured.out == ""
    assert captured.err.startswith("error: ")
    assert captured.err.endswith("\n") and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    return str(captured.err)


# -- hpt run ----------------------------------------------------------------------------------------------


def test_run_json_reports_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str], small_config_file: Path,
                                  iris_npz: Path) -> None:
    # Given a 4-experiment config and an npz split
    store = tmp_path / "store"

    # When hpt run --json runs it
    code, payload = _run_json(capsys, str(small_config_file), "--data", str(iris_npz), "--store", str(store),
                              "--jobs", "1")

    # Then it exits 0 and prints the contract's object
    assert code == 0
    assert set(payload) >= RUN_KEYS
    assert (payload["status"], payload["perf_metric"], payload["direction"]) == ("SUCCEEDED", "accuracy", "maximize")
    assert len(payload["experiments"]) == 4
    for experiment in payload["experiments"]:
        assert set(experiment) >= EXPERIMENT_KEYS
        assert experiment["status"] == "SUCCEEDED" and experiment["error"] is None
        assert set(experiment["metrics"]) == {"accuracy", "f1_macro"}
    assert [e["algo"] for e in payload["experiments"]] == ["LogisticRegression"] * 2 + ["DecisionTreeClassifier"] * 2
    assert payload["experiments"][0]["params"]["C"] == 0.1
    winner = payload["winner"]
    assert set(winner) >= WINNER_KEYS
    best = max(e["metrics"]["accuracy"] for e in payload["experiments"])
    first_best = next(e for e in payload["experiments"] if e["metrics"]["accuracy"] == best)
    assert winner["experiment_id"] == first_best["experiment_id"]
    assert winner["metrics"] == first_best["metrics"]
    assert winner["model_uri"].startswith("file://") and (store / "objects").is_dir()
    assert (store / "tuner.db").is_file()


def test_run_on_a_csv_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str], small_config_file: Path,
                             csv_split: Path) -> None:
    code, payload = _run_json(capsys, str(small_config_file), "--data", str(csv_split),
                              "--store", str(tmp_path / "store"), "--jobs", "1")

    assert code == 0
    assert payload["status"] == "SUCCEEDED"


def test_rerun_reports_every_experiment_reused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              small_config_file: Path, iris_npz: Path) -> None:
    argv = (str(small_config_file), "--data", str(iris_npz), "--store", str(tmp_path / "store"), "--jobs", "1")
    _, first = _run_json(capsys, *argv)

    code, second = _run_json(capsys, *argv)

    assert code == 0
    assert second["reused"] == second["total"] == 4
    assert second["run_id"] != first["run_id"]
    assert second["winner"]["experiment_id"] == first["winner"]["experiment_id"]


def test_run_with_two_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str], small_config_file: Path,
                              iris_npz: Path) -> None:
    _, serial = _run_json(capsys, str(small_config_file), "--data", str(iris_npz), "--store", str(tmp_path / "a"),
                          "--jobs", "1")

    code, parallel = _run_json(capsys, str(small_config_file), "--data", str(iris_npz),
                               "--store", str(tmp_path / "b"), "--jobs", "2")

    assert code == 0
    assert [(e["experiment_id"], e["metrics"]) for e in parallel["experiments"]] == [
        (e["experiment_id"], e["metrics"]) for e in serial["experiments"]
    ]


def test_all_failing_run_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 write_config: Callable[..., Path], iris_npz: Path) -> None:
    config = write_config({"training_params": {"DecisionTreeClassifier": {"max_depth": [-1, 0]}},
                           "metrics": ["accuracy"], "perf_metric": "accuracy"})

    code, payload = _run_json(capsys, str(config), "--data", str(iris_npz), "--store", str(tmp_path / "store"),
                              "--jobs", "1")

    assert code == 1
    assert payload["status"] == "FAILED"
    assert payload["winner"] is None
    assert [e["status"] for e in payload["experiments"]] == ["FAILED", "FAILED"]
    assert all(e["error"].startswith("InvalidParameterError: ") for e in payload["experiments"])


def test_run_without_json_prints_the_leaderboard_and_the_winner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_config_file: Path, iris_npz: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps narrow tables; a wide console keeps headers on one line

    code = main(["run", str(small_config_file), "--data", str(iris_npz), "--store", str(tmp_path / "store"),
                 "--jobs", "1"])

    out = capsys.readouterr().out
    assert code == 0
    assert "rank" in out and "trainer" in out and "accuracy *" in out and "f1_macro" in out
    assert "LogisticRegression" in out and "DecisionTreeClassifier" in out
    assert "4 experiments: 4 succeeded, 0 failed, 0 reused" in out
    assert re.search(r"winner [0-9a-f]{16}: ", out), out


def _bad_data(tmp_path: Path, iris_npz: Path) -> str:
    with np.load(iris_npz) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["X_train"] = arrays["X_train"].copy()
    arrays["X_train"][0, 0] = np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, **arrays)
    return str(path)


BAD_INPUTS: list[tuple[str, Callable[[Path, Path, Path], list[str]], str]] = [
    ("bad-config", lambda t, c, d: [str(t / "bad.yaml"), "--data", str(d)], r"bad\.yaml: frobnicate: unknown key"),
    ("missing-config", lambda t, c, d: [str(t / "none.yaml"), "--data", str(d)], r"no such config file"),
    ("missing-data", lambda t, c, d: [str(c), "--data", str(t / "none.npz")], r"none\.npz: no such file or folder"),
    ("bad-data", lambda t, c, d: [str(c), "--data", _bad_data(t, d)], r"nan\.npz: X_train contains NaN"),
    ("unknown-flag", lambda t, c, d: [str(c), "--data", str(d), "--frobnicate"], r"unrecognized arguments"),
    ("jobs-0", lambda t, c, d: [str(c), "--data", str(d), "--jobs", "0"], r"--jobs.*positive integer"),
    ("missing-data-flag", lambda t, c, d: [str(c)], r"--data"),
    ("over-the-cap", lambda t, c, d: [str(c), "--data", str(d), "--max-experiments", "3"], r"over the cap of 3"),
]


@pytest.mark.parametrize(("argv", "message"), [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_config_file: Path, iris_npz: Path,
    argv: Callable[[Path, Path, Path], list[str]], message: str,
) -> None:
    # Given a bad config file next to the good one, and a store path that does not exist yet
    (tmp_path / "bad.yaml").write_text(small_config_file.read_text() + "frobnicate: 1\n")
    store = tmp_path / "store"

    # When hpt run gets the bad input
    code = main(["run", *argv(tmp_path, small_config_file, iris_npz), "--store", str(store)])

    # Then: exit 2, one line on stderr, nothing written
    err = _assert_usage_error(code, capsys.readouterr())
    assert re.search(message, err), err
    assert not store.exists()


def test_store_path_that_is_a_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   small_config_file: Path, iris_npz: Path) -> None:
    store = tmp_path / "store"
    store.write_text("not a directory")

    code = main(["run", str(small_config_file), "--data", str(iris_npz), "--store", str(store), "--jobs", "1"])

    err = _assert_usage_error(code, capsys.readouterr())
    assert "store" in err
    assert store.read_text() == "not a directory"


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    _assert_usage_error(main([]), capsys.readouterr())


# -- hpt leaderboard --------------------------------------------------------------------------------------


@pytest.fixture
def finished_store(tmp_path: Path, capsys: pytest.CaptureFixture[str], small_config_file: Path,
                   iris_npz: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A store with two runs of the small config (the second reused); returns the store and both payloads."""
    store = tmp_path / "store"
    payloads = [_run_json(capsys, str(small_config_file), "--data", str(iris_npz), "--store", str(store),
                          "--jobs", "1")[1] for _ in range(2)]
    return store, payloads


def test_leaderboard_shows_the_latest_run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                          finished_store: tuple[Path, list[dict[str, Any]]]) -> None:
    store, (first, second) = finished_store
    monkeypatch.setenv("COLUMNS", "200")

    code = main(["leaderboard", "--store", str(store), "--json"])
    latest = json.loads(capsys.readouterr().out)
    table_code = main(["leaderboard", "--store", str(store)])
    table = capsys.readouterr().out

    assert code == table_code == 0
    assert latest["run_id"] == second["run_id"] != first["run_id"]
    assert [e["experiment_id"] for e in latest["experiments"]] == [e["experiment_id"] for e in second["experiments"]]
    assert "rank" in table and "accuracy *" in table and "(reused)" in table
    assert f"run {second['run_id']}: SUCCEEDED" in table


def test_leaderboard_csv_has_cv_results_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                finished_store: tuple[Path, list[dict[str, Any]]]) -> None:
    # Given the first of two runs
    store, (first, _) = finished_store
    path = tmp_path / "board.csv"

    # When it is exported by id
    code = main(["leaderboard", first["run_id"], "--store", str(store), "--csv", str(path)])

    # Then the CSV has one row per experiment, best first, with cv_results_-style columns
    assert code == 0
    assert "wrote 4 rows" in capsys.readouterr().err
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    columns = set(rows[0])
    expected = {"rank_validation_accuracy", "param_C", "param_max_depth", "param_random_state",
                "validation_accuracy", "validation_f1_macro", "test_accuracy", "test_f1_macro", "fit_time"}
    assert expected <= columns, sorted(columns)
    assert len(rows) == 4
    assert rows[0]["rank_validation_accuracy"] == "1"
    by_id = {row["experiment_id"]: row for row in rows}
    for experiment in first["experiments"]:
        row = by_id[experiment["experiment_id"]]
        assert float(row["validation_accuracy"]) == experiment["metrics"]["accuracy"]
        assert float(row["validation_f1_macro"]) == experiment["metrics"]["f1_macro"]
        assert float(row["fit_time"]) >= 0
    ranks = [int(row["rank_validation_accuracy"]) for row in rows]
    assert ranks == sorted(ranks)
    accuracies = [float(row["validation_accuracy"]) for row in rows]
    assert accuracies == sorted(accuracies, reverse=True)


def test_leaderboard_unknown_run_id_exits_2(capsys: pytest.CaptureFixture[str],
                                            finished_store: tuple[Path, list[dict[str, Any]]]) -> None:
    store, _ = finished_store

    err = _assert_usage_error(main(["leaderboard", "no-such-run", "--store", str(store)]), capsys.readouterr())

    assert "no-such-run" in err


def test_leaderboard_on_a_missing_store_exits_2_and_creates_nothing(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "nowhere"

    err = _assert_usage_error(main(["leaderboard", "--store", str(store)]), capsys.readouterr())

    assert "no tuner store" in err
    assert not store.exists()


# -- the installed entry point ------------------------------------------------------------------------------


def test_installed_hpt_entry_point(tmp_path: Path, small_config_file: Path, iris_npz: Path) -> None:
    hpt = Path(sys.executable).with_name("hpt")
    assert hpt.is_file(), "the project is installed in the venv with its console script"

    proc = subprocess.run(
        [str(hpt), "run", str(small_config_file), "--data", str(iris_npz), "--store", str(tmp_path / "store"),
         "--jobs", "1", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )

    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["status"] == "SUCCEEDED"
    assert set(payload) >= RUN_KEYS

    bad = subprocess.run([str(hpt), "run", str(small_config_file), "--data", str(tmp_path / "none.npz"),
                          "--store", str(tmp_path / "other")], capture_output=True, text=True, timeout=120,
                         check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
    assert not (tmp_path / "other").exists()


def test_aws_commands_without_credentials_or_region_are_one_line_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given no way to reach AWS: no credentials and no region anywhere
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never look for an instance role off this machine

    # When / Then: exit 2 and one line, for the missing region and for the missing credentials
    for argv in (["status", "run-1", "--stack", "s"], ["status", "run-1", "--stack", "s", "--region", "us-east-1"]):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith("error: AWS: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# -- a FAILED run has no winner ---------------------------------------------------------------------------------

# max_depth=-1 is refused by scikit-learn: 1 of 3 experiments fails, and no failure is tolerated.
PARTLY_FAILING = {"training_params": {"DecisionTreeClassifier": {"max_depth": [2, 3, -1]}},
                  "metrics": ["accuracy"], "perf_metric": "accuracy", "max_failure_ratio": 0.0}


def test_run_failed_by_max_failure_ratio_has_a_null_winner_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], iris_npz: Path
) -> None:
    code, payload = _run_json(capsys, str(write_config(PARTLY_FAILING)), "--data", str(iris_npz),
                              "--store", str(tmp_path / "store"), "--jobs", "1")

    assert code == 1
    assert payload["status"] == "FAILED"
    assert payload["winner"] is None
    assert [e["status"] for e in payload["experiments"]] == ["SUCCEEDED", "SUCCEEDED", "FAILED"]
    scored = payload["experiments"][:2]
    best = max(scored, key=lambda e: (e["metrics"]["accuracy"], -scored.index(e)))
    assert payload["reason"] == (
        f"1 of 3 experiments failed (33%), above max_failure_ratio 0%; best candidate {best['experiment_id']} "
        f"(accuracy={best['metrics']['accuracy']:.6g})"
    )


def test_run_failed_by_max_failure_ratio_prints_the_reason_and_no_winner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], iris_npz: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")

    code = main(["run", str(write_config(PARTLY_FAILING)), "--data", str(iris_npz), "--store", str(tmp_path / "s"),
                 "--jobs", "1"])
    out = capsys.readouterr().out
    board_code = main(["leaderboard", "--store", str(tmp_path / "s")])
    board = capsys.readouterr().out

    assert (code, board_code) == (1, 0)
    for text in (out, board):
        assert "3 experiments: 2 succeeded, 1 failed, 0 reused" in text
        assert re.search(r"^run FAILED: 1 of 3 experiments failed \(33%\), above max_failure_ratio 0%", text, re.M)
        assert not re.search(r"^winner ", text, re.M), text
        assert "model:" not in text and "sha256=" not in text


# -- --json: one strict JSON document on stdout, whatever the estimators print --------------------------------

# Both print to stdout when fitting: SVC from C (libsvm's printf), MLPClassifier from Python (print).
VERBOSE = {"training_params": {"SVC": {"C": [0.5, 1.0], "verbose": [True]},
                               "MLPClassifier": {"hidden_layer_sizes": [[5]], "max_iter": [3], "verbose": [True]}},
           "metrics": ["accuracy"], "perf_metric": "accuracy", "seed": 3}


def _refuse(token: str) -> Any:
    raise ValueError(f"not strict JSON: {token}")


def _strict(text: str) -> Any:
    """Parse ``text`` as one strict JSON document (``NaN``, ``Infinity`` and trailing data are refused)."""
    return json.loads(text, parse_constant=_refuse)


def _hpt(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    hpt = Path(sys.executable).with_name("hpt")
    return subprocess.run([str(hpt), *argv], capture_output=True, text=True, timeout=300, check=False, cwd=cwd)


def test_strict_parser_refuses_what_json_dumps_writes_by_default() -> None:
    with pytest.raises(ValueError, match="Infinity"):
        _strict(json.dumps({"C": float("inf")}))
    with pytest.raises(json.JSONDecodeError):
        _strict('{"a": 1}\n[LibSVM]')


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_run_json_stdout_is_one_strict_document_while_estimators_print(
    tmp_path: Path, write_config: Callable[..., Path], iris_npz: Path, jobs: str
) -> None:
    proc = _hpt("run", str(write_config(VERBOSE)), "--data", str(iris_npz), "--store", str(tmp_path / "store"),
                "--jobs", jobs, "--json")

    assert proc.returncode == 0, proc.stderr
    payload = _strict(proc.stdout)
    assert payload["status"] == "SUCCEEDED" and len(payload["experiments"]) == 3
    # what the estimators printed went to their experiments' logs instead (the test would pass vacuously if they
    # printed nothing)
    logs = tmp_path / "store" / "logs" / payload["run_id"]
    printed = {e["algo"]: (logs / f"{e['experiment_id']}.log").read_text() for e in payload["experiments"]}
    assert "[LibSVM]" in printed["SVC"]
    assert "Iteration 1, loss = " in printed["MLPClassifier"]


def test_run_json_with_stdout_closed_still_runs(tmp_path: Path, small_config_file: Path, iris_npz: Path) -> None:
    import os

    hpt = Path(sys.executable).with_name("hpt")
    proc = subprocess.run(
        [str(hpt), "run", str(small_config_file), "--data", str(iris_npz), "--store", str(tmp_path / "store"),
         "--jobs", "1", "--json"],
        capture_output=True, text=True, timeout=300, check=False,
        preexec_fn=lambda: os.close(1),  # as `hpt ... >&-` does
    )

    assert (proc.returncode, proc.stderr) == (0, "")


def test_emulate_json_stdout_is_one_strict_document_while_estimators_print(
    tmp_path: Path, write_config: Callable[..., Path], iris_npz: Path
) -> None:
    proc = _hpt("emulate", str(write_config(VERBOSE)), "--data", str(iris_npz), "--template", str(TEMPLATE),
                "--json", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    payload = _strict(proc.stdout)
    assert payload["status"] == "SUCCEEDED" and len(payload["experiments"]) == 3
    # Python-level prints go to the emulated function's log, as on Lambda; libsvm's printf reaches fd 1
    assert "optimization finished" in proc.stderr


def test_leaderboard_json_has_no_nan_or_infinity_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_config_file: Path, iris_npz: Path
) -> None:
    from hyperparameter_tuner import open_store

    # Given: a finished run, plus a record whose metric is NaN, whose fit time and parameter are infinite
    store = tmp_path / "store"
    _, payload = _run_json(capsys, str(small_config_file), "--data", str(iris_npz), "--store", str(store),
                           "--jobs", "1")
    metadata, _, _ = open_store(store)
    first = next(iter(metadata.iter_experiments(payload["run_id"])))
    metadata.put_experiment(first.model_copy(update={
        "experiment_id": "f" * 16, "index": 99, "params": {"C": float("inf")}, "fit_time": float("inf"),
        "scores": {"validation": {"accuracy": float("nan"), "f1_macro": float("-inf")}},
    }))

    # When
    proc = _hpt("leaderboard", "--store", str(store), "--json")

    # Then
    assert proc.returncode == 0, proc.stderr
    board = _strict(proc.stdout)
    odd = next(e for e in board["experiments"] if e["experiment_id"] == "f" * 16)
    assert odd["params"]["C"] is None and odd["fit_time"] is None
    assert odd["metrics"] == {"accuracy": None, "f1_macro": None}
    assert odd["scores"]["validation"] == {"accuracy": None, "f1_macro": None}


# -- --version, leaderboard --top, warnings in the text output --------------------------------------------------


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    expected = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]

    code = main(["--version"])

    assert code == 0
    assert capsys.readouterr().out == f"hpt {expected}\n"


def test_leaderboard_top_keeps_the_n_best(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          finished_store: tuple[Path, list[dict[str, Any]]],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store, (_, latest) = finished_store
    monkeypatch.setenv("COLUMNS", "200")
    ranked = sorted(range(4), key=lambda i: (-latest["experiments"][i]["metrics"]["accuracy"], i))
    best_two = [latest["experiments"][i]["experiment_id"] for i in ranked[:2]]

    json_code = main(["leaderboard", "--store", str(store), "--json", "--top", "2"])
    top = json.loads(capsys.readouterr().out)
    table_code = main(["leaderboard", "--store", str(store), "--top", "1"])
    table = capsys.readouterr().out
    csv_code = main(["leaderboard", "--store", str(store), "--top", "3", "--csv", str(tmp_path / "top.csv")])
    capsys.readouterr()

    assert json_code == table_code == csv_code == 0
    assert [e["experiment_id"] for e in top["experiments"]] == best_two
    assert len(re.findall(r"SUCCEEDED \(reused\)", table)) == 1
    assert "... 3 more" in table
    with (tmp_path / "top.csv").open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 3
    _assert_usage_error(main(["leaderboard", "--store", str(store), "--top", "0"]), capsys.readouterr())


def test_fit_warnings_are_counted_in_the_text_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], iris_npz: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: two MLPs stopped after 1 and 2 iterations (scikit-learn warns that they did not converge) and a tree
    monkeypatch.setenv("COLUMNS", "200")
    config = write_config({"training_params": {"MLPClassifier": {"max_iter": [1, 2]},
                                               "DecisionTreeClassifier": {"max_depth": [2]}},
                           "metrics": ["accuracy"], "perf_metric": "accuracy"})

    # When
    code = main(["run", str(config), "--data", str(iris_npz), "--store", str(tmp_path / "store"), "--jobs", "1"])

    # Then
    out = capsys.readouterr().out
    assert code == 0
    assert "warning: 2 experiments had fit warnings (ConvergenceWarning)" in out


def test_selection_on_test_without_a_validation_split_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_config_file: Path, iris_npz: Path,
    iris_npz_no_val: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    argv = [str(small_config_file), "--store", str(tmp_path / "store"), "--jobs", "1"]

    _, on_test = _run_json(capsys, *argv, "--data", str(iris_npz_no_val))
    _, on_validation = _run_json(capsys, *argv, "--data", str(iris_npz))
    main(["run", *argv, "--data", str(iris_npz_no_val)])
    text = capsys.readouterr().out

    assert any(w.startswith("no validation split: experiments were ranked on the test split")
               for w in on_test["warnings"]), on_test["warnings"]
    assert not any("validation split" in w for w in on_validation["warnings"])
    assert "warning: no validation split: experiments were ranked on the test split" in text


# -- hpt emulate names the user's files -------------------------------------------------------------------------


def _nan_npz(tmp_path: Path, iris_npz: Path) -> Path:
    return Path(_bad_data(tmp_path, iris_npz))


def _csv_without_target(tmp_path: Path, iris_npz: Path) -> Path:
    folder = tmp_path / "no_target"
    folder.mkdir()
    for name in ("train.csv", "test.csv"):
        (folder / name).write_text("a,b\n1.0,0\n2.0,1\n")
    return folder


EMULATE_BAD_INPUTS: list[tuple[str, Callable[[Path, Path], Path], Callable[[Path, Path], Path], str]] = [
    ("unknown-key", lambda t, d: t / "bad.yaml", lambda t, d: d, r": frobnicate: unknown key$"),
    ("nan-npz", lambda t, d: t / "good.yaml", _nan_npz, r": X_train contains NaN$"),
    ("csv-no-target", lambda t, d: t / "good.yaml", _csv_without_target, r": label column 'target' is missing"),
]


@pytest.mark.parametrize(("config", "data", "message"), [case[1:] for case in EMULATE_BAD_INPUTS],
                         ids=[case[0] for case in EMULATE_BAD_INPUTS])
def test_emulate_bad_input_names_the_users_file_not_the_emulated_s3_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_config_file: Path, iris_npz: Path,
    config: Callable[[Path, Path], Path], data: Callable[[Path, Path], Path], message: str,
) -> None:
    # Given: a good and a bad config (the unknown key is refused by the emulated fan-out), and the data
    (tmp_path / "good.yaml").write_text(small_config_file.read_text())
    (tmp_path / "bad.yaml").write_text(small_config_file.read_text() + "frobnicate: 1\n")
    config_path, data_path = config(tmp_path, iris_npz), data(tmp_path, iris_npz)
    named = config_path if config_path.name == "bad.yaml" else data_path

    # When
    code = main(["emulate", str(config_path), "--data", str(data_path), "--template", str(TEMPLATE), "--json"])

    # Then: exit 2, one line, naming the path the user passed
    err = _assert_usage_error(code, capsys.readouterr()).strip()
    assert err.startswith(f"error: {named}"), err
    assert "s3://" not in err
    assert re.search(message, err), err


def test_duplicate_values_are_noted_once_and_never_counted_as_failures(
    tmp_path: Path, write_config: Callable[..., Path], iris_npz: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a value listed twice and no failure tolerated
    config = write_config({"training_params": {"LogisticRegression": {"C": [1.0, 1.0]}}, "metrics": ["accuracy"],
                           "perf_metric": "accuracy", "max_failure_ratio": 0})
    note = "training_params.LogisticRegression.C: 1.0 listed more than once; each value is tried once"

    # When it runs, as JSON and as text
    code = main(["run", str(config), "--data", str(iris_npz), "--store", str(tmp_path / "s"), "--json"])
    payload = json.loads(capsys.readouterr().out)
    text_code = main(["run", str(config), "--data", str(iris_npz), "--store", str(tmp_path / "t")])
    err = capsys.readouterr().err

    # Then one experiment ran, the run succeeded, and the duplicate is said once in each form
    assert (code, text_code) == (0, 0)
    assert payload["status"] == "SUCCEEDED" and payload["total"] == 1 and len(payload["experiments"]) == 1
    assert payload["warnings"].count(note) == 1
    assert err.count(f"note: {note}") == 1
