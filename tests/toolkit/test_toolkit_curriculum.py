"""Curricula: the scheduler interface and its two built-ins, over an env's named splits."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from agentgym.curriculum import (
    Curriculum,
    DifficultyCurriculum,
    SuccessRateCurriculum,
    difficulty_value,
    make_curriculum,
)
from agentgym.errors import TaskError
from agentgym.family import task_source
from agentgym.task import Task
from agentgym.trajectory import EpisodeRecord

TOY = "agentgym/StallOrSubmit-v0"


def test_difficulty_values_from_fields_metadata_labels_and_mappings():
    assert difficulty_value(Task(id="a", metadata={"difficulty": 2.5})) == 2.5
    assert difficulty_value(Task(id="b", metadata={"difficulty": "hard"})) > difficulty_value(
        Task(id="c", metadata={"difficulty": "easy"})
    )
    assert difficulty_value(Task(id="d", metadata={"difficulty": {"score": 0.7, "level": "hard"}})) == 0.7
    with pytest.raises(TaskError, match="'e' has no numeric 'difficulty'"):
        difficulty_value(Task(id="e"))
    with pytest.raises(TaskError, match="label 'brutal'"):
        difficulty_value(Task(id="f", metadata={"difficulty": "brutal"}))


def test_difficulty_curriculum_starts_easy_and_grows_to_every_task():
    curriculum = DifficultyCurriculum(
        {f"t{i}": float(i) for i in range(20)}, start_fraction=0.25, ramp_steps=4
    )
    rng = np.random.default_rng(0)
    first = curriculum.next_tasks(200, rng)
    assert set(first) <= {f"t{i}" for i in range(5)} and len(set(first)) == 5
    for _ in range(3):
        curriculum.next_tasks(1, rng)
    assert curriculum.state() == {"curriculum_pool": 20, "curriculum_max_difficulty": 19.0}
    assert set(curriculum.next_tasks(500, rng)) == {f"t{i}" for i in range(20)}


def _record(task_id: str, success: bool) -> EpisodeRecord:
    return EpisodeRecord(env_id=TOY, task_id=task_id, success=success)


def test_success_rate_curriculum_prefers_tasks_solved_about_half_the_time():
    curriculum = SuccessRateCurriculum(["solved", "half", "hopeless"], decay=1.0)
    curriculum.update([_record("solved", True)] * 4 + [_record("hopeless", False)] * 4
                      + [_record("half", True), _record("half", False)])  # fmt: skip
    assert curriculum.rates == {"solved": 1.0, "half": 0.5, "hopeless": 0.0}
    counts = Counter(curriculum.next_tasks(3000, np.random.default_rng(1)))
    assert counts["half"] > 5 * counts["solved"] and counts["half"] > 5 * counts["hopeless"]
    assert counts["solved"] > 0  # the floor keeps every task in play


def test_built_ins_over_an_envs_named_split_and_a_custom_curriculum():
    source = task_source(TOY)
    train = set(source.ids("train"))
    by_work = make_curriculum("difficulty", TOY, split="train", field="work_needed", ramp_steps=1)
    assert set(by_work.task_ids) == train
    needed = [source.get(t).work_needed for t in by_work.task_ids]
    assert needed == sorted(needed)
    assert set(make_curriculum("success_rate", TOY, split="test").task_ids) == set(source.ids("test"))
    with pytest.raises(TaskError, match="unknown split 'dev'"):
        make_curriculum("success_rate", TOY, split="dev")
    with pytest.raises(TaskError, match="no numeric 'difficulty'"):
        make_curriculum("difficulty", TOY)
    with pytest.raises(ValueError, match="curriculum must be one of"):
        make_curriculum("random", TOY)

    class Reverse(Curriculum):  # the documented interface: next_tasks (+ update, state)
        def next_tasks(self, n, rng):
            return list(reversed(self.task_ids))[:n]

    assert Reverse(["a", "b", "c"]).next_tasks(2, np.random.default_rng()) == ["c", "b"]
