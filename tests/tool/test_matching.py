"""ToolRL-style call matching used by the step components."""

import pytest

from agentgym.envs.tool.bfcl_env import accuracy_by_category
from agentgym.envs.tool.matching import calls_equal, local_toolcall_scores, match_calls, toolcall_scores

A = {"name": "get_order", "arguments": {"order_id": "#W1", "verbose": True}}
B = {"name": "cancel", "arguments": {"order_id": "#W1", "reason": "no longer needed"}}


@pytest.fixture(params=["shared", "local"])
def scores_fn(request):
    return toolcall_scores if request.param == "shared" else local_toolcall_scores


def test_perfect_and_empty(scores_fn):
    toolcall_scores = scores_fn
    assert toolcall_scores([A, B], [B, A]) == {"tool_name_match": 1.0, "param_name_match": 1.0, "param_value_match": 1.0}
    assert toolcall_scores([], []) == {"tool_name_match": 1.0, "param_name_match": 1.0, "param_value_match": 1.0}
    assert toolcall_scores([], [A])["tool_name_match"] == 0.0


def test_partial_credit(scores_fn):
    toolcall_scores = scores_fn
    wrong_value = {"name": "cancel", "arguments": {"order_id": "#W1", "reason": "ordered by mistake"}}
    scores = toolcall_scores([wrong_value], [B])
    assert scores == {"tool_name_match": 1.0, "param_name_match": 1.0, "param_value_match": 0.5}
    extra_key = {"name": "cancel", "arguments": {**B["arguments"], "note": "x"}}
    assert toolcall_scores([extra_key], [B])["param_name_match"] == pytest.approx(2 / 3)
    # an extra call costs: names 1/2 (Jaccard of multisets), params averaged over max(len) calls
    scores = toolcall_scores([A, B], [B])
    assert scores["tool_name_match"] == 0.5 and scores["param_value_match"] == 0.5


def test_value_normalization_and_matching_order():
    assert calls_equal({"name": "f", "arguments": {"x": " Paris ", "n": 2}}, {"name": "f", "arguments": {"x": "paris", "n": 2.0}})
    assert not calls_equal({"name": "f", "arguments": {"x": 1}}, {"name": "f", "arguments": {"x": 1, "y": 2}})
    pairs = match_calls([B, A], [A, B])
    assert pairs == [(0, 1), (1, 0)]


def test_accuracy_by_category():
    class R:
        def __init__(self, task_id, correct, category=None, invalid=False):
            self.task_id, self.metrics, self.reward_invalid = task_id, {"correct": correct}, invalid
            self.task = {"category": category} if category else {}

    records = [R("simple_python_1", 1.0, "simple_python"), R("simple_python_2", 0.0, "simple_python"),
               R("live_simple_3-1-0", 1.0), R("parallel_4", 0.0, "parallel", invalid=True)]
    assert accuracy_by_category(records) == {"live_simple": 1.0, "simple_python": 0.5}
