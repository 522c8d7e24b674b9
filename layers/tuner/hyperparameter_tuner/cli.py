"""The ``hpt`` command.

Exit status: 0 when a winner was chosen (or the command succeeded), 1 when the run failed, 2 for bad input
(config, data, arguments) with one line ``error: ...`` on stderr and nothing written, 3 when ``hpt submit --wait
--timeout`` gave up while the run is still going on.

With ``--json``, stdout carries exactly one strict JSON document (no ``NaN``/``Infinity``): while the command
works, file descriptor 1 and ``sys.stdout`` point at stderr, so whatever an estimator, a library or a child
process prints goes there, and the document is written to the real stdout at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, TextIO

from .config import DEFAULT_MAX_EXPERIMENTS, check_grid_size, load_config
from .errors import ConfigError, DataError, NotFoundError, TunerError

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STILL_RUNNING = 0, 1, 2, 3


class UsageError(TunerError):
    """Bad command-line input: exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r} (seconds)") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds >= 0, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _result_exit(status: str) -> int:
    return EXIT_OK if status == "SUCCEEDED" else EXIT_FAILED


def _flush_c_stdio() -> None:
    """Flush the C library's stdio buffers (libsvm and liblinear print with ``printf``)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError, TypeError):  # no C library to reach (not POSIX)
        ctypes.CDLL(None).fflush(None)


class _ReservedStdout:
    """Keep stdout for the one JSON document: while active, fd 1 and ``sys.stdout`` write to stderr.

    The document passed to :meth:`write` is held and written to the real stdout on exit, after everything the
    work printed (Python-level, C-level, forked workers) was flushed to stderr.
    """

    def __init__(self) -> None:
        self.document: str | None = None
        self._stream: TextIO | None = None
        self._saved_fd: int | None = None
        self._own_stream = False

    def write(self, document: str) -> None:
        """Hold ``document`` until the work is done."""
        self.document = document

    def __enter__(self) -> _ReservedStdout:
        # Python sets sys.stdout to None when fd 1 was closed at start (`hpt ... >&-`): the work still runs.
        self._own_stream = sys.stdout is None
        self._stream = Path(os.devnull).open("w") if sys.stdout is None else sys.stdout  # noqa: SIM115
        self._stream.flush()
        try:
            self._saved_fd = os.dup(1)
            os.dup2(2, 1)
        except OSError:  # stdout or stderr closed: nothing to protect or nowhere to divert to
            if self._saved_fd is not None:
                os.close(self._saved_fd)
            self._saved_fd = None
        sys.stdout = sys.stderr
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._stream is not None
        for stream in (sys.stdout, sys.stderr, self._stream):
            with contextlib.suppress(OSError, ValueError):  # a closed stream has nothing left to flush
                stream.flush()
        _flush_c_stdio()
        sys.stdout = self._stream
        if self._saved_fd is not None:
            os.dup2(self._saved_fd, 1)
            os.close(self._saved_fd)
            self._saved_fd = None
        if self.document is not None:
            self._stream.write(self.document)
            self._stream.flush()
        if self._own_stream:
            sys.stdout = None  # as Python found it: fd 1 closed
            self._stream.close()


_JSON_OUT: _ReservedStdout | None = None


def _print_json(payload: Any) -> None:
    from .results import to_strict_json

    document = to_strict_json(payload) + "\n"
    if _JSON_OUT is not None:
        _JSON_OUT.write(document)
    else:
        sys.stdout.write(document)


def _cmd_run(args: argparse.Namespace) -> int:
    from .data import load_split
    from .local.engine import LocalTuner

    # Validate everything before the store is touched: bad input leaves nothing behind.
    config = load_config(args.config)
    check_grid_size(config, args.max_experiments)
    if args.dataset is not None:
        from .champion import check_dataset_name

        check_dataset_name(args.dataset)
    data = load_split(args.data, config.target, config.max_data_bytes)
    config.check_split(data)
    tuner = LocalTuner(config=config, store=args.store, jobs=args.jobs, max_experiments=args.max_experiments)
    if args.json:
        result = tuner.run(data, dataset=args.dataset)
        _print_json(_with_notes(result.to_json(), config.notes))
        return _result_exit(result.run.status.value)
    from ._console import RunProgress, make_console, print_leaderboard, print_summary

    _print_notes(config.notes)
    out, err = make_console(), make_console(stderr=True)
    err.print(f"[bold]{config.name or Path(args.config).stem}[/bold]: {len(config.grid())} experiments on "
              f"{data.source} ({tuner.jobs} workers, store {args.store})")
    with RunProgress(err) as bar:
        result = tuner.run(data, progress=bar.advance, on_start=bar.start, dataset=args.dataset)
    print_leaderboard(out, result.run, result.experiments, limit=args.top)
    print_summary(out, result)
    return _result_exit(result.run.status.value)


def _open_existing_store(store: str) -> Any:
    from .local.engine import open_store

    if not (Path(store) / "tuner.db").is_file():
        raise UsageError(f"--store {store}: no tuner store there (run `hpt run` first)")
    return open_store(store)


def _local_run(store: str, run_id: str | None) -> tuple[Any, Any]:
    """The local store's metadata tracker and its run ``run_id`` (default: the latest run)."""
    metadata, _, _ = _open_existing_store(store)
    if run_id is not None:
        return metadata, metadata.get_run(run_id)
    runs = metadata.list_runs(limit=1)
    if not runs:
        raise UsageError(f"--store {store}: no runs yet")
    return metadata, runs[0]


def _write_csv(path: str, rows: list[dict[str, Any]]) -> None:
    from .results import to_strict_json

    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    try:
        with Path(path).open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: to_strict_json(v, indent=None) if isinstance(v, dict | list) else v
                                 for k, v in row.items()})
    except OSError as exc:
        raise UsageError(f"--csv {path}: cannot write ({exc.strerror})") from None


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from ._console import make_console, print_leaderboard, print_summary
    from .results import RunResult, leaderboard_rows

    if args.stack:
        if args.run_id is None:
            raise UsageError("leaderboard --stack needs a RUN_ID")
        metadata: Any = _stack_tuner_metadata(args.stack, args.region)
        run = metadata.get_run(args.run_id)
    else:
        metadata, run = _local_run(args.store, args.run_id)
    experiments = RunResult.collect(run, metadata.iter_experiments(run.run_id)).experiments
    rows = leaderboard_rows(run, experiments)[: args.top]  # best first: --top keeps the N best
    if args.csv:
        _write_csv(args.csv, rows)
        print(f"wrote {len(rows)} rows to {args.csv}", file=sys.stderr)
    if args.json:
        payload = RunResult(run, experiments).to_json()
        if args.top is not None:
            by_id = {e["experiment_id"]: e for e in payload["experiments"]}
            payload["experiments"] = [by_id[row["experiment_id"]] for row in rows]
        _print_json(payload)
    elif not args.csv:
        console = make_console()
        print_leaderboard(console, run, experiments, limit=args.top)
        print_summary(console, RunResult(run, experiments))  # counts, warnings, then the winner or why it FAILED
    return EXIT_OK


def _with_notes(payload: dict[str, Any], notes: Sequence[str]) -> dict[str, Any]:
    """The run JSON with the config's notes (deduplicated values) first in its ``warnings``."""
    return {**payload, "warnings": [*notes, *payload.get("warnings", [])]}


def _print_notes(notes: Sequence[str]) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def _report(result: Any, args: argparse.Namespace, notes: Sequence[str] = ()) -> int:
    from ._console import make_console, print_leaderboard, print_summary

    if args.json:
        _print_json(_with_notes(result.to_json(), notes))
    else:
        _print_notes(notes)
        console = make_console()
        print_leaderboard(console, result.run, result.experiments, limit=getattr(args, "top", 20))
        print_summary(console, result)
    return _result_exit(result.run.status.value)


def _cmd_emulate(args: argparse.Namespace) -> int:
    from .emulator.workflow import emulate_run

    def started(reply: dict[str, Any]) -> None:
        if not args.json and reply.get("status") == "STARTED":
            print(f"run {reply['run_id']}: {reply['total']} experiments in {reply['batches']} batches "
                  f"(emulated Step Functions)", file=sys.stderr)

    result = emulate_run(args.config, args.data, template=args.template, on_started=started, report=args.report)
    if args.report:
        print(f"wrote {args.report} (the Report function's reports/{result.run.run_id}.html)", file=sys.stderr)
    return _report(result, args, load_config(args.config).notes)


def _stack(stack: str, region: str | None) -> tuple[Any, Any]:
    """The deployed stack's resources (from its outputs) and a boto3 session in its region."""
    import boto3

    from .aws.tuner import StackResources

    session = boto3.session.Session(region_name=region)
    return StackResources.from_stack(stack, session.client("cloudformation")), session


def _stack_tuner(stack: str, region: str | None, config: Any) -> Any:
    from .aws.events import dataset_name
    from .aws.tuner import StepFunctionsTuner

    resources, session = _stack(stack, region)
    return StepFunctionsTuner(config=config, resources=resources, s3=session.client("s3"),
                              dynamodb=session.client("dynamodb"), lambda_client=session.client("lambda"),
                              dataset=dataset_name(config.name or "adhoc"))


def _stack_tuner_metadata(stack: str, region: str | None) -> Any:
    from .aws.dynamodb import DynamoDBMetadataTracker

    resources, session = _stack(stack, region)
    return DynamoDBMetadataTracker(resources.table, client=session.client("dynamodb"))


def _cmd_submit(args: argparse.Namespace) -> int:
    from .aws.tuner import WaitTimeoutError
    from .data import load_split

    if args.timeout is not None and not args.wait:
        raise UsageError("--timeout needs --wait")
    config = load_config(args.config)
    check_grid_size(config, args.max_experiments)
    config.check_split(load_split(args.data, config.target, config.max_data_bytes))  # fail fast, before any upload
    tuner = _stack_tuner(args.stack, args.region, config)
    started = tuner.submit(args.data)
    if started.get("status") in ("FAILED", "REJECTED"):
        raise UsageError(str(started.get("reason")))
    follow = f"hpt status {started['run_id']} --stack {args.stack}"
    if not args.wait:
        if args.json:
            _print_json(started)
        else:
            print(f"run {started['run_id']} {started['status'].lower()}: {started.get('total')} experiments "
                  f"({follow})")
        return EXIT_OK

    last: dict[str, Any] = {}

    def progress(counts: dict[str, Any]) -> None:
        last.update(counts)
        if not args.json:
            print(f"{counts['status']}: {counts['succeeded']} succeeded / {counts['failed']} failed / "
                  f"{counts['running']} running / {counts['pending']} pending", file=sys.stderr)

    try:
        result = tuner.wait(started["run_id"], poll_seconds=args.poll, timeout=args.timeout, progress=progress)
    except WaitTimeoutError as exc:
        if args.json:
            _print_json(last)
        print(f"{exc} and goes on (not failed); follow it with: {follow}", file=sys.stderr)
        return EXIT_STILL_RUNNING
    return _report(result, args)


def _cmd_status(args: argparse.Namespace) -> int:
    from .aws.tuner import run_status

    metadata = _stack_tuner_metadata(args.stack, args.region)
    counts = run_status(metadata.get_run(args.run_id), metadata)
    if args.json:
        _print_json(counts)
    else:
        print(f"run {counts['run_id']}: {counts['status']} — {counts['succeeded']} succeeded / {counts['failed']} "
              f"failed / {counts['running']} running / {counts['pending']} pending of {counts['total']}"
              + (f" — {counts['reason']}" if counts.get("reason") else ""))
    return EXIT_OK if counts["status"] != "FAILED" else EXIT_FAILED


def _champion_stores(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The champion tracker, metadata tracker and artifact store of ``--stack`` or ``--store``."""
    if args.stack:
        from .aws.champions import DynamoDBChampionTracker
        from .aws.dynamodb import DynamoDBMetadataTracker
        from .aws.s3 import S3VersionControl

        resources, session = _stack(args.stack, args.region)
        client = session.client("dynamodb")
        return (DynamoDBChampionTracker(resources.table, client=client),
                DynamoDBMetadataTracker(resources.table, client=client),
                S3VersionControl(resources.bucket, client=session.client("s3")))
    from .local.champions import SQLiteChampionTracker

    metadata, version_control, _ = _open_existing_store(args.store)
    return SQLiteChampionTracker(metadata.db), metadata, version_control


def _cmd_champion(args: argparse.Namespace) -> int:
    from .champion import check_dataset_name, describe_champion

    champions, metadata, _ = _champion_stores(args)
    described = describe_champion(check_dataset_name(args.dataset), champions=champions, metadata=metadata)
    if args.json:
        _print_json(described)
        return EXIT_OK
    from ._console import make_console, print_champion

    print_champion(make_console(), described)
    return EXIT_OK


def _cmd_promote(args: argparse.Namespace) -> int:
    from .champion import check_dataset_name, promote_manually

    dataset = check_dataset_name(args.dataset)
    champions, metadata, _ = _champion_stores(args)
    decision = promote_manually(args.experiment_id, dataset, champions=champions, metadata=metadata)
    if args.json:
        _print_json(decision.to_json())
    else:
        previous = decision.previous_experiment_id
        print(f"champion of {dataset}: {decision.champion_experiment_id} (promoted by hand"
              + (f" over {previous})" if previous else ")"))
    return EXIT_OK


def _cmd_plan(args: argparse.Namespace) -> int:
    from .planning import estimate_from_records, estimate_from_sample, load_prices, make_plan, plan_rungs

    config = load_config(args.config)
    fit: dict[str, float | None] = {name: None for name in config.training_params}
    source = "unknown"
    rungs = plan_rungs(config)
    if args.data:
        from .data import load_split

        split = load_split(args.data, config.target, config.max_data_bytes)
        rungs = plan_rungs(config, split)
        fit = estimate_from_sample(config, split)
        source = f"sample fits on {args.data}"
    elif (Path(args.store) / "tuner.db").is_file():
        metadata, _, _ = _open_existing_store(args.store)
        runs = metadata.list_runs(limit=20)
        history = [e for run in runs for e in metadata.iter_experiments(run.run_id)]
        fit = estimate_from_records(config, history, {run.run_id: run.config.get("cv") for run in runs})
        source = f"recorded fit times in {args.store}"
    plan = make_plan(
        config, fit, source, max_experiments=args.max_experiments, trainer_memory_mb=args.memory,
        trainer_concurrency=args.trainer_concurrency, speed_factor=args.speed_factor,
        prices=load_prices(args.prices) if args.prices else None, rungs=rungs,
    )
    if args.json:
        _print_json({**plan.model_dump(mode="json"), "ok": plan.ok})
    else:
        from ._console import make_console, print_plan

        print_plan(make_console(), plan)
    return EXIT_OK if plan.ok else EXIT_FAILED


def _cmd_report(args: argparse.Namespace) -> int:
    if args.stack:
        if args.run_id is None:
            raise UsageError("report --stack needs a RUN_ID")
        from .aws.reporting import fetch_report, report_key

        report_key(args.run_id)  # a run id that could name another key is refused before any AWS call
        resources, session = _stack(args.stack, args.region)
        page = fetch_report(session.client("s3"), resources.bucket, args.run_id)
        run_id = args.run_id
    else:
        from .champion import champion_history
        from .local.champions import SQLiteChampionTracker
        from .report import render_report

        metadata, run = _local_run(args.store or ".hpt", args.run_id)
        run_id = run.run_id
        history = champion_history(run.dataset, SQLiteChampionTracker(metadata.db)) if run.dataset else None
        page = render_report(run, list(metadata.iter_experiments(run_id)), champion_history=history).encode("utf-8")
    output = Path(args.output or f"report-{run_id}.html")
    try:
        output.write_bytes(page)
    except OSError as exc:
        raise UsageError(f"-o {output}: cannot write ({exc.strerror})") from None
    print(f"wrote {output} ({len(page) / 1e6:.1f} MB, run {run_id})", file=sys.stderr)
    return EXIT_OK


def _version() -> str:
    """The installed distribution's version (``importlib.metadata``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hyperparameter-tuner")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _build_parser() -> _Parser:
    parser = _Parser(prog="hpt", description="Tune scikit-learn models over a grid, locally or on AWS.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the tuning locally on a process pool")
    run.add_argument("config", help="tuning config (YAML or JSON)")
    run.add_argument("--data", required=True, help="split data: an .npz file or a folder of CSV files")
    run.add_argument("--store", default=".hpt", help="store directory (default: .hpt)")
    run.add_argument("--jobs", type=_positive_int, default=None, help="worker processes (default: all cores)")
    run.add_argument("--max-experiments", type=_positive_int, default=DEFAULT_MAX_EXPERIMENTS,
                     help=f"refuse grids larger than this (default: {DEFAULT_MAX_EXPERIMENTS})")
    run.add_argument("--top", type=_positive_int, default=20, help="leaderboard rows to print (default: 20)")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of progress and table")
    run.add_argument("--dataset", help="dataset whose champion the winner challenges (default: the config's name,"
                                       " else the data file's stem)")
    run.set_defaults(handler=_cmd_run)

    board = sub.add_parser("leaderboard", help="show or export a finished run")
    board.add_argument("run_id", nargs="?", help="run id (default: the latest local run)")
    board.add_argument("--store", default=".hpt", help="store directory (default: .hpt)")
    board.add_argument("--stack", help="read the run from a deployed stack instead of the local store")
    board.add_argument("--region", help="AWS region of the stack")
    board.add_argument("--csv", help="write cv_results_-style rows to this CSV file")
    board.add_argument("--top", type=_positive_int, default=None,
                       help="keep only the N best experiments in the table, CSV and JSON (default: all)")
    board.add_argument("--json", action="store_true", help="print the run's JSON object")
    board.set_defaults(handler=_cmd_leaderboard)

    emulate = sub.add_parser("emulate", help="run the whole AWS workflow of template.yaml locally (moto)")
    emulate.add_argument("config", help="tuning config (YAML or JSON)")
    emulate.add_argument("--data", required=True, help="split data: an .npz file or a folder of CSV files")
    emulate.add_argument("--template", default="template.yaml", help="SAM template (default: template.yaml)")
    emulate.add_argument("--top", type=_positive_int, default=20, help="leaderboard rows to print (default: 20)")
    emulate.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    emulate.add_argument("--report", metavar="FILE",
                         help="copy the run's HTML report (written by the emulated Report function) to FILE")
    emulate.set_defaults(handler=_cmd_emulate)

    submit = sub.add_parser("submit", help="start a run on a deployed stack")
    submit.add_argument("config", help="tuning config (YAML or JSON)")
    submit.add_argument("--data", required=True, help="split data: an .npz file or a folder of CSV files")
    submit.add_argument("--stack", required=True, help="CloudFormation stack name of the deployment")
    submit.add_argument("--region", help="AWS region of the stack")
    submit.add_argument("--wait", action="store_true", help="wait for the run and print its leaderboard")
    submit.add_argument("--poll", type=_positive_seconds, default=10.0,
                        help="seconds between status polls (default: 10)")
    submit.add_argument("--timeout", type=_seconds, default=None,
                        help="with --wait: stop waiting after this many seconds, exit 3 (default: no limit)")
    submit.add_argument("--max-experiments", type=_positive_int, default=DEFAULT_MAX_EXPERIMENTS,
                        help=f"refuse grids larger than this (default: {DEFAULT_MAX_EXPERIMENTS})")
    submit.add_argument("--json", action="store_true", help="print JSON")
    submit.set_defaults(handler=_cmd_submit)

    plan = sub.add_parser("plan", help="estimate a run's AWS cost and check its limits before it runs")
    plan.add_argument("config", help="tuning config (YAML or JSON)")
    plan.add_argument("--data", help="split to time a few sample fits on")
    plan.add_argument("--store", default=".hpt", help="local store whose recorded fit times to use (default: .hpt)")
    plan.add_argument("--memory", type=_positive_int, default=3008, help="trainer memory in MB (default: 3008)")
    plan.add_argument("--trainer-concurrency", type=int, default=0,
                      help="trainer reserved concurrency, caps max_concurrency (default: 0, none)")
    plan.add_argument("--speed-factor", type=float, default=1.0,
                      help="Lambda seconds per second measured here (default: 1.0)")
    plan.add_argument("--max-experiments", type=_positive_int, default=DEFAULT_MAX_EXPERIMENTS,
                      help=f"the deployment's cap per run (default: {DEFAULT_MAX_EXPERIMENTS})")
    plan.add_argument("--prices", help="JSON file of unit prices to override (keys of planning.Prices)")
    plan.add_argument("--json", action="store_true", help="print JSON")
    plan.set_defaults(handler=_cmd_plan)

    report = sub.add_parser("report", help="write a run's self-contained HTML report (opens offline)")
    report.add_argument("run_id", nargs="?", help="run id (default: the latest local run)")
    where = report.add_mutually_exclusive_group()
    where.add_argument("--store", default=None, help="store directory (default: .hpt)")
    where.add_argument("--stack", help="fetch the report the stack's Report function wrote (reports/<run_id>.html)")
    report.add_argument("--region", help="AWS region of the stack")
    report.add_argument("-o", "--output", help="HTML file to write (default: report-<run_id>.html)")
    report.set_defaults(handler=_cmd_report)

    status = sub.add_parser("status", help="live counts of a run on a deployed stack")
    status.add_argument("run_id")
    status.add_argument("--stack", required=True, help="CloudFormation stack name of the deployment")
    status.add_argument("--region", help="AWS region of the stack")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=_cmd_status)

    champion = sub.add_parser("champion", help="show a dataset's champion and its history")
    champion.add_argument("dataset")
    where = champion.add_mutually_exclusive_group()
    where.add_argument("--store", default=".hpt", help="store directory (default: .hpt)")
    where.add_argument("--stack", help="read from a deployed stack instead of the local store")
    champion.add_argument("--region", help="AWS region of the stack")
    champion.add_argument("--json", action="store_true", help="print JSON")
    champion.set_defaults(handler=_cmd_champion)

    promote = sub.add_parser("promote", help="make an experiment a dataset's champion by hand")
    promote.add_argument("experiment_id")
    promote.add_argument("--dataset", required=True, help="the dataset whose champion it becomes")
    where = promote.add_mutually_exclusive_group()
    where.add_argument("--store", default=".hpt", help="store directory (default: .hpt)")
    where.add_argument("--stack", help="promote on a deployed stack instead of the local store")
    promote.add_argument("--region", help="AWS region of the stack")
    promote.add_argument("--json", action="store_true", help="print the recorded decision as JSON")
    promote.set_defaults(handler=_cmd_promote)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hpt``; returns the exit status."""
    global _JSON_OUT
    try:
        try:
            args = _build_parser().parse_args(argv)
        except SystemExit as exc:  # --help and --version print and exit 0
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        if not getattr(args, "json", False):
            return int(args.handler(args))
        with _ReservedStdout() as _JSON_OUT:
            return int(args.handler(args))
    except (UsageError, ConfigError, DataError, NotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TunerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", None)
        if signum is None:  # Ctrl-C outside a local run's training (loading, emulating, waiting): nothing to close
            print("error: interrupted", file=sys.stderr)
            return 128 + signal.SIGINT
        # The local engine closed its run as FAILED (interrupted) on the way out; finished experiments stay.
        print(f"error: {exc}: the run is closed as FAILED, finished experiments are kept", file=sys.stderr)
        return 128 + int(signum)
    except Exception as exc:
        # No credentials, no region, no network: the AWS commands' environment, not a bug of ours.
        if type(exc).__module__.startswith("botocore."):
            print(f"error: AWS: {' '.join(str(exc).split())} (check credentials, --region and network)",
                  file=sys.stderr)
            return EXIT_USAGE
        raise
    finally:
        _JSON_OUT = None


if __name__ == "__main__":
    sys.exit(main())
