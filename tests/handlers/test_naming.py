"""Resource names and IAM scopes: one pipeline's names never collide with, or match, another pipeline's."""

from __future__ import annotations

import fnmatch

import pytest
from forge_handlers import naming

from pipeline_core import stages as stage_table
from pipeline_core.settings import ConfigError, parse_settings

STAGES = stage_table.names()
RUN_IDS = ["x", "run-1", "nova-x", "prod-run-1", "Run-1", "run_1", "a--b",
           "b7c9e0d2-5c1f-4f9e-9a51-3c8f0e0d1a2b", "cli-20261202-134501-4f2a", "r" * 80]


def _names(prefix: str, run_id: str) -> list[str]:
    jobs = [naming.job_name(prefix, run_id, stage, attempt) for stage in STAGES for attempt in (1, 2)]
    return [*jobs, naming.model_name(prefix, run_id), naming.endpoint_config_name(prefix, run_id)]


def test_pipeline_and_run_cannot_trade_characters() -> None:
    # forge + run nova-x and forge-nova + run x used to be the same job (forge-nova-x-sft-a1).
    assert naming.job_name("forge", "nova-x", "sft", 1) != naming.job_name("forge-nova", "x", "sft", 1)
    assert naming.model_name("forge", "nova-x") != naming.model_name("forge-nova", "x")


@pytest.mark.parametrize("other", ["forge-nova-prod", "forge-novax", "forge-nova-x"])
def test_a_pipelines_iam_scope_matches_none_of_anothers_names(other: str) -> None:
    scope = naming.scope_pattern("forge-nova")
    for run_id in RUN_IDS:
        assert all(fnmatch.fnmatchcase(name, scope) for name in _names("forge-nova", run_id))
        foreign = [*_names(other, run_id), naming.endpoint_name(other)]
        assert not [name for name in foreign if fnmatch.fnmatchcase(name, scope)], (other, run_id)
    assert fnmatch.fnmatchcase(naming.endpoint_name("forge-nova"), scope)


def test_distinct_run_ids_get_distinct_valid_names() -> None:
    seen: dict[str, str] = {}
    for run_id in [*RUN_IDS, "RUN-1", "run--1", "r" * 79, "r" * 79 + "s"]:
        for name in _names("forge-nova-prod1", run_id):
            assert len(name) <= naming.MAX_NAME and naming.NAME_PATTERN.match(name), name
            assert seen.setdefault(name, run_id) == run_id, f"{name}: {seen[name]!r} and {run_id!r}"


def test_a_name_safe_run_id_is_kept_readable() -> None:
    assert naming.job_name("forge-hf", "run-1", "sft", 1) == "forge-hf--run-1-sft-a1"
    assert naming.endpoint_name("forge-hf") == "forge-hf--endpoint"


@pytest.mark.parametrize("name", ["forge--nova", "forge-", "forge_nova", "Forge", "f", "a" * 22])
def test_pipeline_names_that_would_make_the_separator_ambiguous_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match="name"):
        parse_settings({"name": name, "model": {"family": "hf", "base_model": "m"}}, "test.yaml")
