"""run_tree's records, the progress component by hand on a toy tree, tree-aware GRPO advantages."""

from __future__ import annotations

import math

import pytest
from snapshot_helpers import TOY, PlanPolicy, make_toy

from agentgym.baselines.train.grpo import compute_advantages
from agentgym.baselines.train.tree_advantage import tree_advantages
from agentgym.replay.rescore import rescore_record
from agentgym.rewards.progress import add_progress, progress_of, progress_spec, state_values
from agentgym.rollout import run_episode
from agentgym.tree import parse_branch, run_tree, tree_episodes

# pass_prob 1 and every task needs 1 unit of work: success <=> at least one `work` before `submit`
KWARGS = {"pass_prob": 1.0, "max_work_needed": 1, "max_turns": 4}
# root, then 2 continuations from turn 0, then 2 from turn 1 (each plan indexed by turn)
PLANS = [
    ["noop", "noop", "submit"],  # R: fails
    ["work", "submit"],  # C1 (from turn 0): succeeds
    ["submit"],  # C2 (from turn 0): fails
    ["noop", "work", "submit"],  # C3 (from turn 1, after R's noop): succeeds
    ["noop", "submit"],  # C4 (from turn 1): fails
]


@pytest.fixture(scope="module")
def tree():
    return run_tree(TOY, PlanPolicy([list(p) for p in PLANS]), branch_turns=[0, 1], k=2, seed=7,
                    task_id="toy-0", env_kwargs=KWARGS)


def test_run_tree_records_form_a_tree(tree):
    root, c1, c2, c3, c4 = tree
    assert [r.success for r in tree] == [False, True, False, True, False]
    assert root.parent_episode_id is None and root.branch_turn is None and root.tree_id == root.episode_id
    assert [(r.parent_episode_id, r.branch_turn, r.branch_index) for r in tree[1:]] == [
        (root.episode_id, 0, 0), (root.episode_id, 0, 1), (root.episode_id, 1, 0), (root.episode_id, 1, 1)]
    assert {r.tree_id for r in tree} == {root.episode_id} and {r.group_id for r in tree} == {root.episode_id}
    assert len({r.branch_seed for r in tree[1:]}) == 4
    assert [[s.action for s in r.steps] for r in tree] == PLANS
    # the shared prefix is the parent's steps, marked; the continuation is the child's own
    assert c3.steps[0].model_dump(exclude={"policy_meta"}) == root.steps[0].model_dump(exclude={"policy_meta"})
    assert c3.steps[0].policy_meta["shared_prefix"] and "shared_prefix" not in c3.steps[1].policy_meta
    assert c3.steps[1].observation == "Worked. Units of work done: 1."
    assert c3.snapshot == {"env_class": "agentgym.envs.toy.stall_or_submit:StallOrSubmitEnv", "turn": 1,
                           "mechanism": "state", "exact": True, "caveat": ""}
    assert tree_episodes(2, [0, 1]) == 5


def test_a_continuation_equals_the_same_episode_played_from_reset(tree):
    # C3 played from reset with its full plan gives the same steps (restore is exact)
    env = make_toy(**KWARGS)
    try:
        fresh = run_episode(env, PlanPolicy([list(PLANS[3])]), seed=7, task_id="toy-0", env_id=TOY,
                            env_kwargs=KWARGS)
    finally:
        env.close()
    c3 = tree[3]
    assert [(s.observation, s.components) for s in fresh.steps] == [(s.observation, s.components) for s in c3.steps]
    assert fresh.report.return_ == c3.report.return_ and fresh.trajectory_components == c3.trajectory_components


def test_progress_equals_the_hand_computation(tree):
    root, c1, c2, c3, c4 = tree
    v0 = (0 + 1 + 0 + 1 + 0) / 5  # the start state: every episode passes through it
    v1_root = (0 + 1 + 0) / 3  # R after its noop: R, C3, C4
    expected = {
        root.episode_id: [v1_root - v0, 0 - v1_root, 0.0],
        c1.episode_id: [1 - v0, 0.0],
        c2.episode_id: [0 - v0],
        c3.episode_id: [v1_root - v0, 1 - v1_root, 0.0],
        c4.episode_id: [v1_root - v0, 0 - v1_root],
    }
    got = progress_of(tree)
    for episode_id, values in expected.items():
        assert got[episode_id] == pytest.approx(values)
    # telescoping: an episode's progress sums to its outcome minus the start value
    for record in tree:
        assert sum(got[record.episode_id]) == pytest.approx(float(record.success) - v0)
    values = state_values(tree)
    assert values[(root.episode_id, 0)] == pytest.approx(v0) and values[(root.episode_id, 1)] == pytest.approx(v1_root)


def test_progress_composes_with_the_reward_layer(tree):
    scored = add_progress(tree)
    assert [s.components["progress"] for s in scored[1].steps] == pytest.approx([0.6, 0.0])
    base = make_toy(**KWARGS).unwrapped.reward_spec
    spec = progress_spec(base, weight=2.0, clip_total=0.5)
    c1, c2 = scored[1], scored[2]
    # C1 succeeds: gate open, progress 0.6 * 2 = 1.2 clipped to 0.5; outcome 1.0, critic 1 (one work)
    assert rescore_record(c1, spec).return_ == pytest.approx(1.0 + 1.0 + 0.5)
    # C2 fails (tests_fail 0.1 opens the gate at 0.1): progress -0.4 * 2 = -0.8 clipped to -0.5
    assert rescore_record(c2, spec).return_ == pytest.approx(0.1 - 0.5)
    # min-form: the worst step's progress counts (C1: min(0.6, 0) = 0; C2: -0.4 * 2)
    worst = progress_spec(base, weight=2.0, aggregate="min")
    assert rescore_record(c1, worst).return_ == pytest.approx(1.0 + 1.0 + 0.0)
    assert rescore_record(c2, worst).return_ == pytest.approx(0.1 - 0.8)
    # the original records are untouched
    assert "progress" not in tree[1].steps[0].components


def test_progress_from_a_declared_estimate(tree):
    scored = add_progress(tree)
    for record in scored:  # a "PRM" that says 0.5 after every step
        for step in record.steps:
            step.components["prm"] = 0.5
    got = progress_of(scored, estimate="prm")
    assert got[scored[2].episode_id] == pytest.approx([0.5 - 0.4])
    assert got[scored[0].episode_id] == pytest.approx([0.1, 0.0, 0.0])
    with pytest.raises(ValueError, match="no 'nope' component"):
        progress_of(scored, estimate="nope")


def test_tree_advantages_by_hand(tree):
    root, c1, c2, c3, c4 = tree
    returns = {r.episode_id: r.report.return_ for r in tree}
    mean_all = sum(returns.values()) / 5
    sub = [returns[root.episode_id], returns[c3.episode_id], returns[c4.episode_id]]
    mean_sub = sum(sub) / 3
    adv = dict(zip([r.episode_id for r in tree], tree_advantages(tree, normalize=False), strict=True))
    r = returns
    assert adv[root.episode_id] == pytest.approx([r[root.episode_id] - mean_all] + [r[root.episode_id] - mean_sub] * 2)
    assert adv[c1.episode_id] == pytest.approx([r[c1.episode_id] - mean_all] * 2)
    assert adv[c2.episode_id] == pytest.approx([r[c2.episode_id] - mean_all])
    assert adv[c3.episode_id][0] is None  # R's step, trained in R
    assert adv[c3.episode_id][1:] == pytest.approx([r[c3.episode_id] - mean_sub] * 2)
    assert adv[c4.episode_id][0] is None and adv[c4.episode_id][1] == pytest.approx(r[c4.episode_id] - mean_sub)
    normalized = tree_advantages(tree)
    std_sub = math.sqrt(sum((x - mean_sub) ** 2 for x in sub) / 3)
    assert normalized[0][1] == pytest.approx((r[root.episode_id] - mean_sub) / (std_sub + 1e-6))


def test_without_branches_tree_advantages_are_grpo():
    env = make_toy(pass_prob=0.5, max_turns=4)
    plans = [["work", "submit"], ["noop", "noop", "submit"], ["work", "work", "work", "work"], ["submit"]]
    records = []
    try:
        for index, plan in enumerate(plans):
            records.append(run_episode(env, PlanPolicy([plan]), seed=index, task_id="toy-0", env_id=TOY,
                                       group_id="g0" if index < 2 else "g1"))
    finally:
        env.close()
    tree = tree_advantages(records)
    grpo = compute_advantages(records, mode="trajectory")
    assert [len(a) for a in tree] == [len(a) for a in grpo] == [2, 3, 4, 1]
    assert [x for a in tree for x in a] == pytest.approx([x for a in grpo for x in a], rel=1e-9)
    assert len({round(x, 6) for a in tree for x in a}) > 1  # not all zero


def test_parse_branch():
    assert parse_branch("4@1,3") == (4, [1, 3])
    assert parse_branch("2@0") == (2, [0])
    for bad in ("4", "x@1", "0@1", "2@", "2@-1"):
        with pytest.raises(ValueError, match="K@TURNS"):
            parse_branch(bad)


def test_a_tree_reruns_identically():
    from agentgym.policy import make_policy

    def play():
        return run_tree(TOY, make_policy("random"), branch_turns=[0, 1], k=3, depth=2, seed=5,
                        env_kwargs={"pass_prob": 0.5, "max_turns": 6})

    def rows(records):
        return [(r.branch_turn, r.branch_seed, r.branch_reseeds, [s.observation for s in r.steps], r.success)
                for r in records]

    first = play()
    assert rows(first) == rows(play())
    seeds = [r.branch_seed for r in first[1:]]
    assert len(seeds) == len(set(seeds)) >= 6
    by_id = {r.episode_id: r for r in first}
    for record in first[1:]:  # a record's reseeds are its parent's plus its own branch
        parent = by_id[record.parent_episode_id]
        assert record.branch_reseeds == [*parent.branch_reseeds, [record.branch_turn, record.branch_seed]]
