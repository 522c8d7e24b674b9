"""Scale on the AWS path (under moto): a 100,000-experiment fan-out, payload sizes, invocations per experiment."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from moto import mock_aws

from benchmarks.scale import grid_of, measure_fan_out, measure_reduce
from hyperparameter_tuner.aws.workflow import Services
from hyperparameter_tuner.config import MAX_CONFIG_BYTES, parse_config
from hyperparameter_tuner.errors import ConfigError

PAYLOAD_BUDGET = 8 * 1024


@pytest.fixture
def services(aws_credentials: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    from benchmarks.scale import aws_setup

    with mock_aws():
        yield aws_setup()


def test_a_100k_grid_fans_out_in_few_batches_with_small_payloads(services: Services) -> None:
    # When
    result = measure_fan_out(services, 100_000)

    # Then: every experiment in exactly one batch, 100 per invocation, tiny payloads, bounded memory
    assert result["covered"] == 100_000
    assert result["batches"] == 1000
    assert result["largest_item_bytes"] <= PAYLOAD_BUDGET
    assert result["execution_input_bytes"] <= PAYLOAD_BUDGET
    assert result["peak_bytes"] < 50_000_000  # the grid is never expanded in memory


def test_manifest_ranges_tile_the_grid(services: Services) -> None:
    result = measure_fan_out(services, 100_000)

    body = services.s3.get_object(Bucket=services.settings.bucket_name,
                                  Key=f"runs/{result['run_id']}/manifest.json")["Body"].read()
    ranges = sorted((item["start"], item["stop"]) for item in json.loads(body))
    assert ranges[0][0] == 0 and ranges[-1][1] == 100_000
    assert all(stop == next_start for (_, stop), (next_start, _) in zip(ranges, ranges[1:], strict=False))


def test_the_reducer_streams_in_bounded_memory(services: Services) -> None:
    # Given runs of 2 and 5 DynamoDB pages (a page is at most 1 MB, ~1,600 of these records)
    small, large = measure_reduce(services, 2000), measure_reduce(services, 5000)

    # Then 2.5x the records, about the same memory held on the reducer's side (one page at a time)
    assert large["held_bytes"] < 1.3 * small["held_bytes"]


def test_a_config_over_the_size_limit_is_refused_naming_the_limit() -> None:
    values = list(range(MAX_CONFIG_BYTES // 4))
    with pytest.raises(ConfigError, match=r"training_params: the config is \d+ KiB as JSON, over the 256 KiB"):
        parse_config({"training_params": {"Ridge": {"alpha": values}}, "metrics": ["r2"], "perf_metric": "r2"})


def test_grid_of_builds_exact_sizes() -> None:
    assert [len(parse_config(grid_of(n)).grid()) for n in (10, 2000, 100_000)] == [10, 2000, 100_000]
