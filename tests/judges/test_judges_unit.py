"""Pure parts of the judge layer, without a model: verdict parsing, cache keys, pre-gates, rubric
short-circuit, checklist evidence, pairwise aggregation, timeouts -> invalid, spec integration,
probe-based refusal. Models here are scripted test doubles; the real-model tests are in
test_judges_vllm.py."""

from __future__ import annotations

import json

import pytest

from agentgym.rewards import ComponentUnavailable, RewardSpec, SpecError
from agentgym.rewards.judges import (
    EpisodeView,
    Judge,
    JudgeCache,
    JudgeError,
    JudgeInput,
    JudgeOutput,
    JudgeRequest,
    JudgeRunner,
    cache_key,
    check_probe,
    load_judge_config,
    parse_checklist,
    parse_ranking,
    parse_score,
    parse_winner,
    parse_yes_no,
    probe_judge,
    save_probe_result,
)
from agentgym.rewards.judges.prompts import TEMPLATES, get_template

Q = "What is 17 + 25?"


# ---------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Verdict: YES", True),
        ("Verdict: no\nbecause", False),
        ("I will answer 'Verdict: YES' or 'Verdict: NO'.\nVerdict: NO", False),  # last one wins
        ("**Verdict:** **Yes**", True),
        ("Yes, it is right.", True),
        ("No.", False),
        ("Verdict: maybe", None),
        ("The answer is 42.", None),
        ("", None),
    ],
)
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) is expected


def test_parse_score_and_range():
    assert parse_score("Score: 10") == 1.0
    assert parse_score("Score: 1") == 0.0
    assert parse_score("reasoning... Score: 4 ... final Score: 7") == pytest.approx(6 / 9)
    assert parse_score("Score: 8/10") == pytest.approx(0.8)
    assert parse_score("Score: 11") is None  # out of range is not clipped into a verdict
    assert parse_score("Score: N") is None
    assert parse_score("no score") is None


def test_parse_winner_ranking_checklist():
    assert parse_winner("Winner: B") == "B"
    assert parse_winner("Winner: Response A") == "A"
    assert parse_winner("A is better") is None
    assert parse_ranking("Ranking: 2 > 1 > 3", 3) == [1, 0, 2]
    assert parse_ranking("Ranking: 2 > 2 > 3", 3) is None  # not a permutation
    assert parse_ranking("Ranking: 1 > 2", 3) is None
    rows = parse_checklist('1: YES | evidence: "opened the file"\n2: NO', 3)
    assert rows == [(True, "opened the file"), (False, ""), (False, "")]
    assert parse_checklist("nothing here", 2) is None


# ---------------------------------------------------------------------- cache
def test_cache_key_changes_with_model_prompt_input_and_sampling():
    template = TEMPLATES["reference"]
    request = JudgeRequest(template.render(question=Q, answer="42", reference="42"), max_tokens=16)
    base = cache_key("m1", template.id, request)
    assert base == cache_key(
        "m1",
        template.id,
        JudgeRequest(template.render(question=Q, answer="42", reference="42"), max_tokens=16),
    )
    assert base != cache_key("m2", template.id, request)
    bumped = get_template("reference", version="2")
    assert bumped.id != template.id and base != cache_key("m1", bumped.id, request)
    assert base != cache_key(
        "m1",
        template.id,
        JudgeRequest(template.render(question=Q, answer="43", reference="42"), max_tokens=16),
    )
    assert base != cache_key("m1", template.id, JudgeRequest(request.messages, max_tokens=17))


def test_cache_roundtrip_skips_errors(tmp_path):
    cache = JudgeCache(tmp_path / "c.sqlite")
    cache.put("k1", "m", "p", JudgeOutput(text="Verdict: YES"))
    cache.put("k2", "m", "p", JudgeOutput(error="timeout"))
    assert cache.get("k1").text == "Verdict: YES"
    assert cache.get("k2") is None
    assert len(cache) == 1
    reopened = JudgeCache(tmp_path / "c.sqlite")
    assert reopened.get("k1").meta["cached"] is True


def test_judge_serves_repeat_from_cache(scripted):
    model = scripted(lambda prompt: "Verdict: YES")
    judge = Judge({"kind": "reference", "model": "x"}, model)
    first = judge.judge_one(Q, "42", "42")
    second = Judge({"kind": "reference", "model": "x"}, model).judge_one(
        Q, "42", "42"
    )  # new judge, same disk cache
    assert first.score == second.score == 1.0
    assert not first.cached and second.cached
    assert len(model.requests) == 1


# ---------------------------------------------------------------------- pre-gates, failures
def test_pregates_decide_without_model_call(scripted):
    model = scripted(lambda prompt: "Verdict: YES")
    judge = Judge(
        {
            "kind": "reference",
            "model": "x",
            "cache": False,
            "pregate": {"answer_pattern": r"<answer>(.*?)</answer>"},
        },
        model,
    )
    results = judge.judge(
        [
            JudgeInput(Q, "", "42"),
            JudgeInput(Q, "42 without tags", "42"),
            JudgeInput(Q, "<answer>  </answer>", "42"),
            JudgeInput(Q, "<answer>42</answer>", "42"),
        ]
    )
    assert [r.pregate for r in results] == [
        "no extractable answer",
        "no extractable answer",
        "empty answer",
        None,
    ]
    assert [r.score for r in results] == [0.0, 0.0, 0.0, 1.0]
    assert len(model.requests) == 1
    assert "Response:\n42\n" in model.requests[0].messages[-1]["content"]  # the extracted answer is judged


def test_unparseable_and_timeout_are_invalid_never_zero(scripted):
    garbled = Judge(
        {"kind": "reference", "model": "x", "cache": False}, scripted(lambda p: "The answer is 42.")
    )
    result = garbled.judge_one(Q, "42", "42")
    assert not result.valid and result.score is None and result.error == "unparseable verdict"
    slow = Judge(
        {"kind": "reference", "model": "x", "cache": False, "timeout_s": 0.05},
        scripted(lambda p: "Verdict: YES", delay=2.0),
    )
    result = slow.judge_one(Q, "42", "42")
    assert not result.valid and result.score is None and "timeout" in result.error
    no_ref = Judge(
        {"kind": "reference", "model": "x", "cache": False}, scripted(lambda p: "Verdict: YES")
    ).judge_one(Q, "42")
    assert not no_ref.valid


# ---------------------------------------------------------------------- kinds
def _rubric(criteria):
    return {"kind": "rubric", "model": "x", "cache": False, "criteria": criteria}


def test_rubric_hard_pattern_rule_short_circuits_all_calls(scripted):
    model = scripted(lambda p: "Verdict: YES")
    judge = Judge(
        _rubric(
            [
                {"name": "has_number", "pattern": r"\d", "hard": True},
                {"name": "polite", "text": "The response is polite.", "hard": True},
                {"name": "concise", "text": "The response is concise.", "weight": 2},
            ]
        ),
        model,
    )
    result = judge.judge_one(Q, "forty-two")
    assert result.score == 0.0 and result.details["hard_failed"] == "has_number"
    assert model.requests == []


def test_rubric_model_hard_rule_fails_before_soft_principles(scripted):
    def reply(prompt):
        return "Verdict: NO" if "polite" in prompt else "Verdict: YES"

    model = scripted(reply)
    judge = Judge(
        _rubric(
            [
                {"name": "polite", "text": "The response is polite.", "hard": True},
                {"name": "concise", "text": "The response is concise.", "weight": 2},
                {"name": "cites", "text": "The response cites a source."},
            ]
        ),
        model,
    )
    result = judge.judge_one(Q, "42")
    assert result.score == 0.0 and result.details["hard_failed"] == "polite"
    assert len(model.requests) == 1  # the soft criteria were never asked


def test_rubric_weighted_soft_criteria(scripted):
    model = scripted(lambda p: "Verdict: NO" if "cites" in p else "Verdict: YES")
    judge = Judge(
        _rubric(
            [
                {"name": "polite", "text": "The response is polite.", "hard": True},
                {"name": "concise", "text": "The response is concise.", "weight": 3},
                {"name": "cites", "text": "The response cites a source.", "weight": 1},
                {"name": "short", "pattern": r"^.{1,20}$", "weight": 1},
            ]
        ),
        model,
    )
    result = judge.judge_one(Q, "42")
    assert result.score == pytest.approx(4 / 5)
    assert len(model.requests) == 3  # pattern criteria need no call


def test_checklist_counts_only_verified_evidence(scripted):
    reply = '1: YES | evidence: "ran the tests"\n2: YES | evidence: "fixed the bug in parser.py"\n3: NO'
    judge = Judge(
        {
            "kind": "checklist",
            "model": "x",
            "cache": False,
            "items": ["Ran tests", "Fixed the bug", "Wrote docs"],
        },
        scripted(lambda p: reply),
    )
    result = judge.judge_one("Fix the bug", "I ran the tests and they pass.")
    assert result.score == pytest.approx(1 / 3)  # item 2's quote is not in the turn
    assert [row["satisfied"] for row in result.details["items"]] == [True, False, False]
    lenient = Judge(
        {
            "kind": "checklist",
            "model": "x",
            "cache": False,
            "items": ["Ran tests", "Fixed the bug", "Wrote docs"],
            "require_evidence": False,
        },
        scripted(lambda p: reply),
    )
    assert lenient.judge_one("Fix the bug", "I ran the tests.").score == pytest.approx(2 / 3)


def test_principles_mean_of_yes(scripted):
    judge = Judge(
        {
            "kind": "principle",
            "model": "x",
            "cache": False,
            "principles": ["Is honest.", "Is brief.", "Uses French."],
        },
        scripted(lambda p: "Verdict: NO" if "French" in p else "Verdict: YES"),
    )
    assert judge.judge_one(Q, "42").score == pytest.approx(2 / 3)


def test_pairwise_always_a_is_position_bias_and_ties(scripted):
    judge = Judge({"kind": "pairwise", "model": "x", "cache": False}, scripted(lambda p: "Winner: A"))
    group = judge.judge([JudgeInput(Q, "42", "42")])  # single response: compared with the reference
    assert group[0].score == 0.5 and group[0].details["position_consistency"] == 0.0
    content_aware = Judge(
        {"kind": "pairwise", "model": "x", "cache": False},
        scripted(lambda p: "Winner: A" if "Response A:\n42" in p else "Winner: B"),
    )

    async def run():
        return await content_aware.ajudge_groups(
            [[JudgeInput(Q, "42"), JudgeInput(Q, "52"), JudgeInput(Q, "")]]
        )

    from agentgym.rewards.judges import run_sync

    scores = [j.score for j in run_sync(run())[0]]
    assert scores == [1.0, 0.0, 0.0]  # the empty answer is pre-gated, never compared


def test_group_ranking_with_reversed_order(scripted):
    def reply(prompt):  # always ranks the response saying 42 first
        order = [
            line.split(":")[0].split()[-1] for line in prompt.splitlines() if line.startswith("Response ")
        ]
        lines = prompt.split("Response ")
        best = next(i for i, chunk in enumerate(lines[1:], 1) if "\n42" in chunk)
        others = [str(n) for n in range(1, len(order) + 1) if n != best]
        return "Ranking: " + " > ".join([str(best), *others])

    judge = Judge({"kind": "group", "model": "x", "cache": False}, scripted(reply))
    from agentgym.rewards.judges import run_sync

    judged = run_sync(judge.ajudge_groups([[JudgeInput(Q, "52"), JudgeInput(Q, "42"), JudgeInput(Q, "7")]]))[
        0
    ]
    assert judged[1].score == 1.0
    assert judged[0].score < 1.0 and judged[2].score < 1.0


# ---------------------------------------------------------------------- spec integration
SPEC = {
    "name": "qa_judged",
    "judges": {"judge_correct": {"kind": "reference", "model": "scripted", "max_tokens": 16}},
    "levels": [
        {"name": "outcome", "scope": "trajectory", "components": ["exact_match"], "gate": {"threshold": 1.0}},
        {"name": "judge", "scope": "trajectory", "components": ["judge_correct"], "lazy": True},
    ],
}


def test_spec_judges_section_validates():
    spec = RewardSpec.model_validate(SPEC)
    assert spec.judges["judge_correct"].kind == "reference"
    with pytest.raises(
        SpecError, match=r"judges.judge_correct.max_tokns: unknown key \(did you mean 'max_tokens'\?\)"
    ):
        from agentgym.rewards.spec import spec_from_data

        spec_from_data(
            {**SPEC, "judges": {"judge_correct": {"kind": "reference", "model": "m", "max_tokns": 3}}}
        )
    with pytest.raises(SpecError, match="needs `criteria`"):
        spec_from_data({**SPEC, "judges": {"r": {"kind": "rubric", "model": "m"}}})
    assert RewardSpec.model_validate(json.loads(spec.model_dump_json())) == spec


def test_lazy_judge_skipped_behind_closed_gate_and_invalid_marks_report(scripted):
    spec = RewardSpec.model_validate(SPEC)
    model = scripted(lambda p: "Verdict: YES")
    runner = JudgeRunner(spec, models=model, cache=False)
    episode = EpisodeView(question=Q, answer="42", reference="42")
    record: dict = {}
    comps = runner.lazy_components(episode, record)
    closed = spec.score([{}], {"exact_match": 0.0, **comps})
    assert closed.level("judge").skipped and model.requests == [] and record == {}
    opened = spec.score([{}], {"exact_match": 1.0, **comps})
    assert opened.return_ == 2.0 and len(model.requests) == 1 and record["judge_correct"]["score"] == 1.0

    broken = JudgeRunner(spec, models=scripted(lambda p: "Perhaps."), cache=False).lazy_components(episode)
    report = spec.score([{}], {"exact_match": 1.0, **broken})
    assert report.reward_invalid and report.return_ == 0.0
    assert any("judge 'judge_correct': unparseable verdict" in w for w in report.warnings)
    with pytest.raises(ComponentUnavailable):
        broken["judge_correct"]()


def test_eager_runner_batches_and_reports_invalid(scripted):
    spec = RewardSpec.model_validate(
        {**SPEC, "judges": {"judge_correct": {**SPEC["judges"]["judge_correct"], "batch_size": 2}}}
    )
    model = scripted(
        lambda p: "Verdict: YES" if "Response:\n42" in p else ("Verdict: NO" if "Response:\n5" in p else "??")
    )
    runner = JudgeRunner(spec, models=model, cache=False)
    results = runner.score([EpisodeView(Q, a, reference="42") for a in ("42", "52", "7", "")])
    assert [r.trajectory.get("judge_correct") for r in results] == [1.0, 0.0, None, 0.0]
    assert [r.invalid for r in results] == [False, False, True, False]
    assert results[3].judgments["judge_correct"]["pregate"] == "empty answer"
    assert len(model.requests) == 3


def test_max_fpr_refuses_unprobed_and_bad_judges(scripted):
    config = {**SPEC["judges"]["judge_correct"], "max_fpr": 0.2}
    spec = RewardSpec.model_validate({**SPEC, "judges": {"judge_correct": config}})
    fooled = scripted(lambda p: "Verdict: YES")
    with pytest.raises(JudgeError, match="no probe result"):
        JudgeRunner(spec, models=fooled)
    judge = Judge(config, fooled, name="judge_correct")
    report = probe_judge(judge, n_items=2)
    assert report.fpr_by_key["empty"] == 0.0  # pre-gated: never reaches the model
    assert report.fpr_master_key == pytest.approx(5 / 6) and report.fpr_by_key["colon"] == 1.0
    assert report.blocked_by_pregate == 2 and report.tpr_correct == 1.0
    save_probe_result(judge, report)
    with pytest.raises(JudgeError, match="exceeds max_fpr"):
        JudgeRunner(spec, models=fooled)
    with pytest.raises(JudgeError):
        check_probe(judge, 0.5)
    assert check_probe(judge, 1.0)["fpr"] == report.fpr


def test_probe_perfect_judge_and_pairwise_consistency(scripted):
    def exact(prompt):
        reference = prompt.split("Reference answer:\n")[1].split("\n")[0]
        response = prompt.split("Response:\n")[1].split("\n\nDoes")[0]
        return "Verdict: YES" if response.strip() == reference else "Verdict: NO"

    report = probe_judge(
        Judge({"kind": "reference", "model": "x", "cache": False}, scripted(exact)), n_items=3
    )
    assert report.fpr == 0.0 and report.fpr_wrong == 0.0
    assert report.tpr_correct == pytest.approx(1 / 4)  # only the plain correct answer matches exactly
    assert report.length_bias == pytest.approx(0.0 - 0.5)  # long: none positive; plain: the correct half
    pairwise = probe_judge(
        Judge({"kind": "pairwise", "model": "x", "cache": False}, scripted(lambda p: "Winner: A")), n_items=2
    )
    assert pairwise.position_consistency == 0.0 and pairwise.position_bias_a == 1.0 and pairwise.fpr == 0.5


def test_load_judge_config_forms(tmp_path):
    name, config = load_judge_config("kind=reference,model=vllm:http://127.0.0.1:8000#smollm2,max_tokens=12")
    assert config.model == "vllm:http://127.0.0.1:8000#smollm2" and config.max_tokens == 12
    path = tmp_path / "reward.yaml"
    import yaml

    path.write_text(yaml.safe_dump(SPEC))
    assert load_judge_config(str(path))[0] == "judge_correct"
    assert load_judge_config(f"{path}#judge_correct")[1].kind == "reference"
    with pytest.raises(KeyError):
        load_judge_config(f"{path}#nope")


def test_judge_uses_a_given_empty_cache_instance(scripted, tmp_path):
    cache = JudgeCache(tmp_path / "given.sqlite")  # empty (len 0) but a cache all the same
    model = scripted(lambda prompt: "Verdict: NO")
    judge = Judge({"kind": "reference", "model": "x"}, model, cache=cache)
    assert judge.cache is cache
    judge.judge_one(Q, "52", "42")
    assert judge.judge_one(Q, "52", "42").cached and len(model.requests) == 1 and len(cache) == 1


def test_readme_yaml_example_is_a_valid_spec():
    from pathlib import Path

    import yaml

    import agentgym.rewards.judges as judges_pkg

    readme = (Path(judges_pkg.__file__).parent / "README.md").read_text()
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = RewardSpec.model_validate(yaml.safe_load(block))
    assert set(spec.judges) == {"judge_correct", "style", "prm"}
    assert [c.hard for c in spec.judges["style"].criteria] == [True, True, False, False]
    assert spec.judges["prm"].scope == "step" and spec.levels[1].lazy
