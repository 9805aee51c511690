"""`agentgym report` compares like with like: one row per env x policy, charts per env with the
policies side by side, episode-order charts only within one env and policy, and pass@k only over
real groups.

The run folder is shaped like the demo's (`scripts/demo.sh`: one trajectory file per env and
policy) and holds real records: two envs (the toy, the out-of-tree example family) x two policies
(oracle, random), in groups of two.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import pytest

from agentgym.baselines.policies.scripted import OraclePolicy, RandomPolicy
from agentgym.metrics import group_key, pass_metrics, summarize
from agentgym.report.data import compute_report_data, wilson_interval
from agentgym.report.html import write_report
from agentgym.rollout import run_episodes
from agentgym.trajectory import EpisodeRecord, TrajectoryWriter, TurnTokens, read_trajectories

TOY = "agentgym/StallOrSubmit-v0"
COUNTER = "counter/ReachTarget-v0"
ENVS = {"toy": (TOY, {"pass_prob": 1.0, "max_turns": 8}), "counter": (COUNTER, {})}
POLICIES = {"oracle": OraclePolicy, "random": RandomPolicy}
CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]


def _copy(record: EpisodeRecord, **changes) -> EpisodeRecord:
    data = record.model_dump(mode="json", by_alias=True)
    data.update(changes)
    return EpisodeRecord.model_validate(data)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """runs/<name>-<policy>.jsonl for 2 envs x 2 policies, 4 groups of 2 each; the toy's random
    file also holds one reward_invalid episode (an infrastructure failure)."""
    run = tmp_path_factory.mktemp("demo-run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the toy's deliberate dominance warning
        for name, (env_id, kwargs) in ENVS.items():
            for tag, policy in POLICIES.items():
                out = run / f"{name}-{tag}.jsonl"
                run_episodes(env_id, policy(), episodes=4, group_size=2, seed=3, env_kwargs=kwargs, out=out)
    broken = read_trajectories(run / "toy-random.jsonl").records[0]
    with TrajectoryWriter(run / "toy-random.jsonl", fsync=False) as writer:
        writer.write(
            _copy(
                broken,
                episode_id="broken",
                reward_invalid=True,
                error="infrastructure: sandbox died",
                group_id="g-broken",
                sample_index=0,
            )
        )
    return run


@pytest.fixture(scope="module")
def records(run_dir) -> list[EpisodeRecord]:
    from agentgym.replay.loading import load_episodes

    return load_episodes(run_dir).records


@pytest.fixture(scope="module")
def report_file(run_dir) -> Path:
    out = run_dir / "report.html"
    write_report(run_dir, out)
    return out


def _subset(records, env_id, policy):
    return [r for r in records if r.env_id == env_id and r.policy["name"] == policy]


def test_one_row_per_env_and_policy(records):
    data = compute_report_data(records)
    assert [(r.env, r.policy) for r in data.rows] == [
        ("counter/ReachTarget-v0", "oracle"),
        ("counter/ReachTarget-v0", "random"),
        ("StallOrSubmit-v0", "oracle"),
        ("StallOrSubmit-v0", "random"),
    ]
    assert [e.env for e in data.envs] == ["counter/ReachTarget-v0", "StallOrSubmit-v0"]
    assert all([r.policy for r in e.rows] == ["oracle", "random"] for e in data.envs)
    for row in data.rows:
        env_id = COUNTER if row.env.startswith("counter") else TOY
        subset = _subset(records, env_id, row.policy)
        valid = [r for r in subset if not r.reward_invalid]
        assert row.episodes == len(subset) and row.invalid == len(subset) - len(valid)
        successes = sum(bool(r.success) for r in valid)
        assert row.scored == len(valid) and row.successes == successes
        assert row.success == pytest.approx(successes / len(valid))
        assert row.success_ci == pytest.approx(wilson_interval(successes, len(valid)))
        for mode in ("gated", "direct", "outcome"):
            expected = sum(getattr(r.report, f"return_{mode}") for r in valid) / len(valid)
            assert row.returns[mode] == pytest.approx(expected)
        assert row.turns == pytest.approx(sum(len(r.steps) for r in valid) / len(valid))
        assert row.tokens is None  # scripted policies record no token ids
        assert row.groups == 4 + (row.invalid > 0)
        assert set(row.pass_k) == {"pass@2", "pass^2"}
    toy_random = data.row("StallOrSubmit-v0", "random")
    assert toy_random.invalid == 1 and toy_random.episodes == 9
    for env in ("StallOrSubmit-v0", "counter/ReachTarget-v0"):
        oracle, random_ = data.row(env, "oracle"), data.row(env, "random")
        assert oracle.success == 1.0 and oracle.pass_k == {"pass@2": 1.0, "pass^2": 1.0}
        assert oracle.success_ci == pytest.approx((0.6756, 1.0), abs=1e-4)  # Wilson, 8 of 8
        assert random_.success < oracle.success
        # the episode-order view of a row holds that row's episodes only
        assert len(oracle.detail.returns["gated"].y) == oracle.valid
        assert oracle.detail.x_label == "episode (file order)"
        assert oracle.detail.returns["gated"].x == [float(i) for i in range(oracle.valid)]
    assert data.pass_columns == ["pass@2", "pass^2"]


def test_wilson_interval():
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(8, 8)
    assert high == 1.0 and low == pytest.approx(0.67559, abs=1e-4)
    low, high = wilson_interval(0, 8)
    assert low == 0.0 and high == pytest.approx(0.32441, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.23659, 0.76341), abs=1e-4)


def test_pass_at_k_never_pools_policies_or_ungrouped_episodes(records):
    """Issue 24: pass@2 = 0.93 came from pooling episodes of different policies on one task."""
    toy = [r for r in records if r.env_id == TOY and not r.reward_invalid]
    # the same tasks and group ids under both policies
    assert {(r.task_id, r.group_id) for r in toy if r.policy["name"] == "oracle"} == {
        (r.task_id, r.group_id) for r in toy if r.policy["name"] == "random"
    }
    by_policy = {p: pass_metrics(_subset(toy, TOY, p)) for p in POLICIES}
    both = pass_metrics(toy)
    # each real group is one policy's: the pooled mean is the mean over both policies' groups
    assert both["pass@2"] == pytest.approx(
        (by_policy["oracle"]["pass@2"] + by_policy["random"]["pass@2"]) / 2
    )
    assert summarize(toy)["pass@2"] == pytest.approx(both["pass@2"])
    assert len({group_key(r) for r in toy}) == 8
    # a mixed "group": one oracle success and one random failure on the same task and group id
    oracle = next(r for r in toy if r.policy["name"] == "oracle" and r.success)
    failure = next(r for r in toy if r.policy["name"] == "random" and not r.success)
    mixed = [_copy(oracle, group_id="g"), _copy(failure, task_id=oracle.task_id, group_id="g")]
    assert group_key(mixed[0]) != group_key(mixed[1])
    assert "pass@2" not in summarize(mixed)  # two groups of one: no pass@2, never 0.5 or 1.0
    # a file with no groups has no pass@k, however many episodes share a task
    ungrouped = [_copy(r, group_id=None, task_id="same-task") for r in toy]
    summary = summarize(ungrouped)
    assert not any(k.startswith(("pass@", "pass^")) for k in summary)
    assert "zero_variance_groups" not in summary
    data = compute_report_data(ungrouped)
    assert data.pass_columns == [] and all(row.pass_k == {} and row.groups == 0 for row in data.rows)


def test_groups_of_one_policy_at_different_training_steps_are_not_pooled(records):
    oracle = [r for r in _subset(records, TOY, "oracle")]
    random_ = [r for r in _subset(records, TOY, "random") if not r.reward_invalid]
    stamped = [_copy(r, policy={"name": "p", "train_step": 0}) for r in oracle]
    stamped += [_copy(r, policy={"name": "p", "train_step": 1}) for r in random_]
    summary = summarize(stamped)
    expected = (pass_metrics(oracle)["pass@2"] + pass_metrics(random_)["pass@2"]) / 2
    assert summary["pass@2"] == pytest.approx(expected)
    # ... while the report shows one policy over two training steps
    data = compute_report_data(stamped)
    (row,) = data.rows
    assert row.policy == "p" and row.detail.x_label == "training step"
    assert row.detail.returns["gated"].curve_x == [0.0, 1.0]


def test_policies_differing_in_configuration_get_distinct_labelled_rows(records):
    oracle = _subset(records, TOY, "oracle")
    a = [
        _copy(r, policy={"name": "vllm", "model": "org/m", "sampling": {"temperature": 0.7, "seed": 1}})
        for r in oracle
    ]
    b = [
        _copy(r, policy={"name": "vllm", "model": "org/m", "sampling": {"temperature": 1.0, "seed": 1}})
        for r in oracle
    ]
    c = [
        _copy(r, policy={"name": "vllm", "model": "org/m", "sampling": {"temperature": 1.0, "seed": 2}})
        for r in oracle
    ]  # another sampling seed: the same policy as b
    data = compute_report_data(a + b + c)
    assert [row.policy for row in data.rows] == [
        "vllm:m (sampling.temperature=0.7)",
        "vllm:m (sampling.temperature=1.0)",
    ]
    assert [row.episodes for row in data.rows] == [len(a), len(b) + len(c)]


def test_tokens_are_completion_tokens_when_recorded(records):
    oracle = _subset(records, COUNTER, "oracle")
    with_tokens = []
    for r in oracle:
        copy = _copy(r, policy={"name": "llm"})
        for step in copy.steps:
            step.tokens = TurnTokens(prompt_token_ids=[1] * 50, completion_token_ids=[7] * 3)
        with_tokens.append(copy)
    data = compute_report_data(with_tokens + oracle)
    llm, plain = data.row(COUNTER, "llm"), data.row(COUNTER, "oracle")
    assert llm.tokens == pytest.approx(3 * sum(len(r.steps) for r in oracle) / len(oracle))
    assert plain.tokens is None


def test_report_page_has_the_table_first_and_no_cross_pair_episode_charts(report_file, records):
    page = report_file.read_text()
    assert page.index('id="env-policy"') < page.index('id="envs"') < page.index('id="pairs"')
    assert page.count('<tr data-env="') == 4
    assert 'data-chart="env0"' in page and 'data-chart="env1"' in page
    # episode-order charts exist only per pair (p<i>-...), never over the whole run
    assert 'data-chart="returns"' not in page
    for index in range(4):
        assert f'data-chart="p{index}-returns"' in page


@pytest.mark.browser
def test_env_policy_table_in_headless_chromium(report_file, records, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(reason=f"{CHROMIUM} not installed (apt-get install -y chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from PIL import Image

    from agentgym.envs.web.browser import CHROMIUM_ARGS

    errors: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(report_file.as_uri())
            # the table is the first thing on the page
            first = page.locator("main > section").first
            assert first.get_attribute("id") == "env-policy"
            table = page.locator("#env-policy-table")
            assert table.is_visible()
            headers = table.locator("thead th").all_inner_texts()
            assert headers[:5] == ["env", "policy", "episodes", "invalid", "success (95% CI)"]
            assert {"pass@2", "pass^2", "gated", "direct", "outcome", "turns", "tokens"} <= set(headers)
            rows = table.locator("tbody tr")
            assert rows.count() == 4
            seen = {}
            for i in range(rows.count()):
                row = rows.nth(i)
                cells = dict(zip(headers, row.locator("td").all_inner_texts(), strict=True))
                seen[(cells["env"], cells["policy"])] = (row, cells)
            assert set(seen) == {
                (env, policy) for env in ("StallOrSubmit-v0", "counter/ReachTarget-v0") for policy in POLICIES
            }
            for env, env_id in (("StallOrSubmit-v0", TOY), ("counter/ReachTarget-v0", COUNTER)):
                oracle_row, oracle = seen[(env, "oracle")]
                random_row, random_ = seen[(env, "random")]
                assert oracle["success (95% CI)"] == "1.000 [0.676, 1.000] (n=8)"
                assert oracle["pass@2"] == "1" and oracle["pass^2"] == "1"
                assert oracle["tokens"] == "–"
                success = float(random_row.locator('td[data-col="success"]').get_attribute("data-value"))
                assert success < 1.0
                low = float(random_row.locator('td[data-col="success"]').get_attribute("data-low"))
                high = float(random_row.locator('td[data-col="success"]').get_attribute("data-high"))
                assert low <= success <= high < 1.0
                valid = [r for r in _subset(records, env_id, "random") if not r.reward_invalid]
                assert success == pytest.approx(sum(bool(r.success) for r in valid) / len(valid))
                gated = float(oracle_row.locator('td[data-col="return_gated"]').get_attribute("data-value"))
                expected = [r.report.return_gated for r in _subset(records, env_id, "oracle")]
                assert gated == pytest.approx(sum(expected) / len(expected))
                assert oracle["episodes"] == "8" and oracle["invalid"] == "0"
            assert seen[("StallOrSubmit-v0", "random")][1]["invalid"] == "1"
            assert seen[("StallOrSubmit-v0", "random")][1]["episodes"] == "9"

            # per env: one chart with both policies, drawn
            for index in range(2):
                chart = page.locator(f'svg[data-chart="env{index}"]')
                assert chart.count() == 1
                chart.scroll_into_view_if_needed()
                box = chart.bounding_box()
                assert box is not None and box["width"] > 400 and box["height"] > 150
                text = chart.inner_html()
                assert "oracle" in text and "random" in text and "success rate (95% CI)" in text
                image = Image.open(io.BytesIO(chart.screenshot())).convert("RGB")
                assert len(image.getcolors(maxcolors=1 << 20) or []) > 8

            # the episode-order charts of one pair, once opened
            pair = page.locator('details.pair[data-env="StallOrSubmit-v0"][data-policy="random"]')
            assert pair.count() == 1 and pair.get_attribute("open") is None
            pair.locator("summary").click()
            chart = pair.locator('svg[data-chart$="-returns"]')
            assert chart.count() == 1 and chart.is_visible()
            box = chart.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 100
            page.screenshot(path=str(tmp_path / "full.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []


@pytest.mark.browser
def test_the_demo_run_folder(tmp_path):
    """The demo's run folder renders with one row per env x policy file: a fresh one after
    `bash scripts/demo.sh` (runs/demo), else the checked-in run docs/experiments/demo_run."""
    default = REPO / "runs" / "demo"
    if not any(default.glob("*.jsonl")):
        default = REPO / "docs" / "experiments" / "demo_run"
    run = Path(os.environ.get("AGENTGYM_DEMO_RUN", default))
    files = sorted(run.glob("*.jsonl")) if run.is_dir() else []
    if not files:
        pytest.skip(reason=f"no demo run in {run} (bash scripts/demo.sh writes it)")
    if not os.path.exists(CHROMIUM):
        pytest.skip(reason=f"{CHROMIUM} not installed (apt-get install -y chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from agentgym.envs.web.browser import CHROMIUM_ARGS

    out = tmp_path / "report.html"
    data = write_report(run, out)
    per_file = {}
    for path in files:
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if lines:
            per_file[path.name] = len(lines)
    assert data.episodes == sum(per_file.values())
    assert len(data.rows) == len(per_file)  # the demo writes one env x policy per file
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(out.as_uri())
            rows = page.locator("#env-policy-table tbody tr")
            assert rows.count() == len(data.rows)
            for i, row in enumerate(data.rows):
                cells = rows.nth(i).locator("td").all_inner_texts()
                assert cells[:4] == [row.env, row.policy, str(row.episodes), str(row.invalid)]
            assert page.locator("div.env-compare svg").count() == len(data.envs)
        finally:
            browser.close()


def test_env_configs_are_compared_separately(records):
    oracle = _subset(records, COUNTER, "oracle")
    other = [_copy(r, env_kwargs={"max_turns": 3}) for r in oracle]
    data = compute_report_data(oracle + other)
    assert [e.env for e in data.envs] == [
        "counter/ReachTarget-v0 (max_turns=3)",
        "counter/ReachTarget-v0 (max_turns=unset)",
    ]
    assert [row.episodes for row in data.rows] == [len(other), len(oracle)]
