"""Env mixtures: weights kept within sampling error, groups never mixing envs or tasks, records
keeping their env, in Python, on the command line and in GRPO's advantages."""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter

import pytest
from typer.testing import CliRunner

from agentgym.baselines.train.grpo import compute_advantages
from agentgym.cli.main import app
from agentgym.metrics import group_key
from agentgym.mixture import (
    EnvMixture,
    MixtureEntry,
    MixtureError,
    groups_are_pure,
    mixture_summary,
    parse_entry,
    run_mixture,
)
from agentgym.policy import make_policy
from agentgym.rewards.report import RewardReport
from agentgym.trajectory import EpisodeRecord, StepRecord, read_trajectories

A, B = "agentgym/StallOrSubmit-v0", "agentgym/ToolUse-v0"


def _within_sampling_error(count: int, n: int, p: float) -> bool:
    return abs(count / n - p) <= 4 * math.sqrt(p * (1 - p) / n)


def test_parse_entries_and_errors():
    assert parse_entry("agentgym/X-v0:0.25") == MixtureEntry("agentgym/X-v0", 0.25)
    assert parse_entry("my_pkg:my/Env-v0") == MixtureEntry("my_pkg:my/Env-v0", 1.0)  # the id's own ':'
    assert parse_entry("my_pkg:my/Env-v0:3") == MixtureEntry("my_pkg:my/Env-v0", 3.0)
    for bad in ("agentgym/X-v0:0", "agentgym/X-v0:-1", "agentgym/X-v0:nan", ":0.5"):
        with pytest.raises(MixtureError, match="--env"):
            parse_entry(bad)
    with pytest.raises(MixtureError, match="appears twice"):
        EnvMixture.parse([f"{A}:1", f"{A}:2"])
    assert EnvMixture.parse([f"{A}:3", f"{B}:1"]).weights == {A: 0.75, B: 0.25}


def test_allocation_follows_the_weights_and_is_seeded():
    mixture = EnvMixture.parse([f"{A}:0.7", f"{B}:0.2", "agentgym/Other-v0:0.1"])
    counts = mixture.allocate(5000, seed=11)
    assert sum(counts.values()) == 5000
    for env_id, weight in mixture.weights.items():
        assert _within_sampling_error(counts[env_id], 5000, weight), (env_id, counts)
    assert mixture.allocate(5000, seed=11) == counts
    assert mixture.allocate(5000, seed=12) != counts


def test_two_env_mixture_keeps_weights_and_never_mixes_envs_in_a_group(tmp_path):
    out = tmp_path / "mix.jsonl"
    mixture = EnvMixture.parse([f"{A}:0.7", f"{B}:0.3"], env_kwargs={"max_turns": 3})
    groups, group_size = 120, 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = run_mixture(
            mixture, make_policy("random"), groups=groups, group_size=group_size, seed=5, out=out
        )
    assert len(records) == groups * group_size
    stored = read_trajectories(out).records
    assert sorted(r.episode_id for r in stored) == sorted(r.episode_id for r in records)
    assert {r.env_id for r in stored} == {A, B}  # the env of every episode is kept
    # the share of groups per env is its weight within sampling error
    group_envs = {}
    for record in stored:
        group_envs.setdefault(group_key(record), set()).add((record.env_id, record.task_id))
    assert len(group_envs) == groups
    per_env = Counter(next(iter(envs))[0] for envs in group_envs.values())
    assert _within_sampling_error(per_env[A], groups, 0.7) and _within_sampling_error(per_env[B], groups, 0.3)
    # no group mixes envs or tasks, and every group has its full size
    assert all(len(members) == 1 for members in group_envs.values())
    assert Counter(group_key(r) for r in stored) == dict.fromkeys(group_envs, group_size)
    assert groups_are_pure(stored)
    # seeds never repeat across envs
    assert len({r.seed for r in stored}) == len(stored)
    summary = mixture_summary(stored)
    assert summary[A]["share"] + summary[B]["share"] == pytest.approx(1.0)
    assert summary[A]["episodes"] == per_env[A] * group_size


def _record(env_id: str, task_id: str, group: str, ret: float) -> EpisodeRecord:
    report = RewardReport(mode="gated", return_=ret, return_gated=ret, return_direct=ret, return_outcome=ret)
    return EpisodeRecord(env_id=env_id, task_id=task_id, group_id=group, report=report,
                         steps=[StepRecord(turn=1, action="a", observation="o")])  # fmt: skip


def test_grpo_groups_are_per_env_and_task_even_when_group_ids_repeat():
    # both envs plan their groups as g0, g1, ...: the advantage must never compare across envs
    records = [_record(A, "t1", "g0", 1.0), _record(A, "t1", "g0", 0.0),
               _record(B, "t9", "g0", 10.0), _record(B, "t9", "g0", 10.0)]  # fmt: skip
    advantages = compute_advantages(records, normalize=False)
    assert [a[0] for a in advantages] == pytest.approx([0.5, -0.5, 0.0, 0.0])
    # the same group id on another task of the same env is another group too
    more = compute_advantages([*records, _record(A, "t2", "g0", 7.0)], normalize=False)
    assert more[-1] == [0.0] and more[0] == pytest.approx([0.5])


def test_cli_eval_mixture_reports_per_env_and_checks_inputs(tmp_path):
    runner = CliRunner()
    report = tmp_path / "metrics.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = runner.invoke(app, ["eval", "--env", f"{A}:0.5", "--env", f"{B}:0.5", "-n", "6", "-G", "2",
                                     "--max-turns", "3", "--out", str(tmp_path / "m.jsonl"), "--json", str(report)])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert set(data["per_env"]) <= {A, B} and data["overall"]["episodes"] == 12
    assert data["weights"] == {A: 0.5, B: 0.5}
    for args, message in [
        (["eval", "--env", f"{A}:0"], "positive"),
        (["eval", "--env", f"{A}:0.5", "--env", f"{A}:0.5"], "appears twice"),
        (["eval", "--env", f"{A}:-2"], "positive"),
        (["eval", A, "--env", f"{B}:1"], "leave out ENV_ID"),
        (["run", "--env", "nosuchpkg:x/Y-v0:1"], "nosuchpkg"),
        (["eval"], "Missing argument"),
    ]:
        bad = runner.invoke(app, args)
        assert bad.exit_code == 2, (args, bad.output)
        assert message in bad.output and "Traceback" not in bad.output
