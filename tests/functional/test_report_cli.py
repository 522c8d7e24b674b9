"""``hpt report`` on the local store: which run it reports, where the file goes, and bad input as one line, exit 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hyperparameter_tuner import open_store
from hyperparameter_tuner.cli import main


def tune(config: Path, data: Path, store: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["run", str(config), "--data", str(data), "--store", str(store), "--jobs", "1", "--json"]) == 0
    result: dict = json.loads(capsys.readouterr().out)
    return result


def test_report_of_a_named_run_lists_its_experiments_and_winner(
    tmp_path: Path, small_config_file: Path, iris_npz: Path, iris_npz_no_val: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two runs in one store
    store = tmp_path / "store"
    first = tune(small_config_file, iris_npz, store, capsys)
    second = tune(small_config_file, iris_npz_no_val, store, capsys)
    assert first["run_id"] != second["run_id"]

    # When the first one is reported by id
    output = tmp_path / "first.html"
    code = main(["report", first["run_id"], "--store", str(store), "-o", str(output)])

    # Then the file is that run's: its id, every experiment id as a row, its winner
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.startswith(f"wrote {output} (") and first["run_id"] in err
    page = output.read_text(encoding="utf-8")
    assert first["run_id"] in page and second["run_id"] not in page
    rows = re.findall(r'<tr data-id="([^"]+)"', page.split('id="hpt-leaderboard"', 1)[1])
    assert sorted(rows) == sorted(e["experiment_id"] for e in first["experiments"])
    assert f'<code class="winner-id">{first["winner"]["experiment_id"]}</code>' in page

    # When no run id is given: the latest run, written to report-<run_id>.html in the working directory
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(tmp_path)
        assert main(["report", "--store", str(store)]) == 0
    assert second["run_id"] in (tmp_path / f"report-{second['run_id']}.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "--store", "{missing}"], r"--store .*: no tuner store there"),
        (["report", "--store", "{empty}"], r"--store .*: no runs yet"),
        (["report", "no-such-run", "--store", "{empty}"], r"run 'no-such-run' not found"),
        (["report", "--stack", "s"], r"report --stack needs a RUN_ID"),
        (["report", "r", "--stack", "s", "--store", "{empty}"], r"not allowed with argument"),
        (["report", "--store", "{empty}", "--bogus"], r"unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], message: str
) -> None:
    open_store(tmp_path / "empty")
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    argv = [a.format(missing=tmp_path / "missing", empty=tmp_path / "empty") for a in argv]

    code = main(argv)

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and re.search(message, err), err
    assert sorted(tmp_path.iterdir()) == before


def test_unwritable_output_is_one_line_exit_2(
    tmp_path: Path, small_config_file: Path, iris_npz: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    tune(small_config_file, iris_npz, store, capsys)

    code = main(["report", "--store", str(store), "-o", str(tmp_path / "no" / "such" / "dir.html")])

    err = capsys.readouterr().err
    assert code == 2 and re.fullmatch(r"error: -o .*dir\.html: cannot write \(No such file or directory\)\n", err)


@pytest.mark.parametrize("run_id", ["../models/x", "a/b", "", ".hidden", "x" * 129])
def test_a_report_key_is_only_ever_under_reports(run_id: str) -> None:
    from hyperparameter_tuner.aws.reporting import report_key
    from hyperparameter_tuner.errors import ConfigError

    with pytest.raises(ConfigError, match="run id .* must match"):
        report_key(run_id)
    assert report_key("20261130T120000Z-ab12cd") == "reports/20261130T120000Z-ab12cd.html"
