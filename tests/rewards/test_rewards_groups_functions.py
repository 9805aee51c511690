"""GRPO group statistics and the reusable reward functions (QA EM/F1, tool-call matching)."""

from __future__ import annotations

import math

import pytest

from agentgym.rewards import group_advantages, zero_variance_fraction
from agentgym.rewards.functions import (
    exact_match,
    f1,
    match_tool_calls,
    normalize_answer,
    tool_call_score,
    toolcall_scores,
)


def test_group_advantages_normalized_and_masked() -> None:
    returns = [1.0, 0.0, None, 0.5, 0.5]
    groups = ["a", "a", "a", "b", "b"]
    adv = group_advantages(returns, groups)
    assert adv[2] is None
    assert adv[0] == pytest.approx(1.0, abs=1e-5) and adv[1] == pytest.approx(-1.0, abs=1e-5)
    assert adv[3] == 0.0 and adv[4] == 0.0
    raw = group_advantages(returns, groups, normalize=False)
    assert raw[:2] == [0.5, -0.5]


def test_group_advantages_validation() -> None:
    with pytest.raises(ValueError, match="length"):
        group_advantages([1.0], [0, 1])
    with pytest.raises(ValueError, match="finite"):
        group_advantages([math.nan], [0])


def test_zero_variance_fraction() -> None:
    returns = [1.0, 1.0, 0.0, 1.0, None, 2.0, None, None]
    groups = [0, 0, 1, 1, 2, 2, 3, 3]
    # groups: 0 flat, 1 varied, 2 one valid entry (flat), 3 all invalid (not counted)
    assert zero_variance_fraction(returns, groups) == pytest.approx(2 / 3)
    assert zero_variance_fraction([], []) == 0.0


# ---------------------------------------------------------------- QA
def test_normalize_answer() -> None:
    assert normalize_answer("  The Eiffel-Tower, in Paris! ") == "eiffeltower in paris"
    assert normalize_answer("An apple a day") == "apple day"


def test_exact_match() -> None:
    assert exact_match("the Eiffel Tower.", ["Eiffel Tower", "Tour Eiffel"]) == 1.0
    assert exact_match("Eiffel", "Eiffel Tower") == 0.0
    assert exact_match(None, "x") == 0.0
    with pytest.raises(ValueError):
        exact_match("x", [])


def test_f1() -> None:
    assert f1("the big eiffel tower", "Eiffel Tower") == pytest.approx(0.8)  # p=2/3, r=1
    assert f1("paris", ["london", "Paris France"]) == pytest.approx(2 / 3)
    assert f1("", "") == 1.0 and f1("a", "paris") == 0.0  # "a" normalizes to empty
    assert f1("paris paris", "paris") == pytest.approx(2 / 3)  # counts are clipped


# ---------------------------------------------------------------- tool calls
def test_tool_calls_exact_and_order_free() -> None:
    gold = [{"name": "search", "arguments": {"q": "x", "k": 5}}, {"name": "open", "arguments": {"id": 3}}]
    pred = [
        {"name": "open", "arguments": '{"id": 3}'},
        {"function": {"name": "search", "arguments": {"k": 5.0, "q": "x"}}},
    ]
    assert tool_call_score(pred, gold) == 1.0
    assert tool_call_score([], []) == 1.0


def test_tool_calls_partial_credit() -> None:
    gold = [{"name": "search", "arguments": {"q": "x", "k": 5}}]
    wrong_value = match_tool_calls([{"name": "search", "arguments": {"q": "y", "k": 5}}], gold)
    # name 1 + params 1 + values 1 of max 1 + 1 + 2
    assert wrong_value.score == pytest.approx(3 / 4) and wrong_value.pairs == [(0, 0)]
    extra_param = match_tool_calls([{"name": "search", "arguments": {"q": "x", "k": 5, "z": 1}}], gold)
    assert extra_param.param_score == pytest.approx(2 / 3)
    wrong_name = match_tool_calls([{"name": "find", "arguments": {"q": "x", "k": 5}}], gold)
    assert wrong_name.score == 0.0 and wrong_name.pairs == []
    assert tool_call_score([], gold) == 0.0
    assert tool_call_score(gold, []) == 0.0
    bad_json = match_tool_calls([{"name": "search", "arguments": "{not json"}], gold)
    assert bad_json.score == pytest.approx(1 / 4)


def test_tool_calls_optimal_assignment_and_string_normalization() -> None:
    gold = [{"name": "f", "arguments": {"a": 1, "b": 2}}, {"name": "f", "arguments": {"a": 1}}]
    pred = [{"name": "f", "arguments": {"a": 1}}, {"name": "f", "arguments": {"a": 1, "b": 2}}]
    assert match_tool_calls(pred, gold).pairs == [(0, 1), (1, 0)]
    assert tool_call_score(pred, gold) == 1.0
    gold_s = [{"name": "f", "arguments": {"city": "New York"}}]
    pred_s = [{"name": "f", "arguments": {"city": " new  york"}}]
    assert tool_call_score(pred_s, gold_s) < 1.0
    assert tool_call_score(pred_s, gold_s, normalize_strings=True) == 1.0


def test_tool_calls_accept_objects() -> None:
    class Call:
        def __init__(self, name: str, arguments: dict) -> None:
            self.name, self.arguments = name, arguments

    assert tool_call_score([Call("f", {"x": [1, 2]})], [{"name": "f", "arguments": {"x": [1, 2]}}]) == 1.0


def test_toolcall_scores_parts() -> None:
    gold = [{"name": "f", "arguments": {"a": 1, "b": 2}}, {"name": "g", "arguments": {}}]
    assert toolcall_scores([], []) == {
        "tool_name_match": 1.0,
        "param_name_match": 1.0,
        "param_value_match": 1.0,
    }
    assert toolcall_scores(gold, gold) == {
        "tool_name_match": 1.0,
        "param_name_match": 1.0,
        "param_value_match": 1.0,
    }
    partial = toolcall_scores([{"name": "f", "arguments": {"a": 1, "b": 3}}], gold)
    assert partial["tool_name_match"] == pytest.approx(0.5)
    assert partial["param_name_match"] == pytest.approx(0.5)  # 1 matched pair of max(1, 2) calls
    assert partial["param_value_match"] == pytest.approx(0.25)  # half the values of that pair
    assert toolcall_scores([{"name": "h", "arguments": {}}], gold)["param_name_match"] == 0.0
