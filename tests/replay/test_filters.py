import pytest

from agentgym.replay import apply_filters, load_episodes, parse_filters
from agentgym.replay.filters import outcome_label, stalled, succeeded


def test_filters_select_the_right_episodes(toy_file, toy_records):
    episodes = load_episodes(toy_file).episodes
    assert len(episodes) == len(toy_records)

    def pick(*texts):
        return [e.record for e in apply_filters(episodes, parse_filters(texts), key=lambda e: e.record)]

    passed = pick("passed")
    failed = pick("failed")
    assert passed and failed
    assert all(r.metrics["success"] == 1.0 for r in passed)
    assert all(r.metrics["success"] == 0.0 for r in failed)
    assert len(passed) + len(failed) == len(episodes)
    stalls = pick("stalled")
    assert len(stalls) == 1 and stalls[0].task_id == "toy-4" and outcome_label(stalls[0]) == "no_submit"
    assert pick("outcome=no_submit") == stalls
    assert {r.task_id for r in pick("task=toy-4")} == {"toy-4"}
    assert pick("task=toy-4*") and all(r.task_id.startswith("toy-4") for r in pick("task=toy-4*"))
    assert pick("invalid") == []
    assert len(pick("!failed")) == len(passed)
    assert pick("failed,outcome=no_submit") == stalls


def test_invalid_episodes_are_neither_failed_nor_passed(toy_records):
    record = toy_records[0].model_copy(update={"reward_invalid": True})
    assert succeeded(record) is None and not stalled(record)
    assert apply_filters([record], parse_filters(["invalid"])) == [record]
    assert apply_filters([record], parse_filters(["failed"])) == []


@pytest.mark.parametrize(
    ("bad", "says"), [("nope", "failed | passed"), ("task=", "needs a value"), ("colour=red", "colour")]
)
def test_bad_filters_explain_the_syntax(bad, says):
    with pytest.raises(ValueError, match=says):
        parse_filters([bad])
