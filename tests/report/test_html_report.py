from __future__ import annotations

import io
import os
import re

import gymnasium as gym
import pytest

from agentgym.baselines.policies.scripted import OraclePolicy, RandomPolicy, ScriptedPolicy
from agentgym.envs.web.browser import CHROMIUM_ARGS  # the flags verified on this platform
from agentgym.replay.filters import stalled
from agentgym.report.data import compute_report_data
from agentgym.report.html import write_report
from agentgym.rollout import run_episode, run_episodes
from agentgym.trajectory import EpisodeRecord, TrajectoryWriter

TOY = "agentgym/StallOrSubmit-v0"
CHROMIUM = "/usr/bin/chromium"
#: the charts of one env x policy (on a page with several, prefixed p<i>-)
EXPECTED_CHARTS = (
    "returns",
    "rates",
    "rates-overall",
    "gates",
    "gates-curve",
    "zero-variance",
    "components",
    "hacking",
    "proxy-gap",
)


@pytest.fixture(scope="module")
def run_records() -> list[EpisodeRecord]:
    """Three 'training steps' of grouped toy episodes, plus stalling, oracle and invalid episodes."""
    records: list[EpisodeRecord] = []
    for step in range(3):
        batch = run_episodes(
            TOY, RandomPolicy(step), episodes=3, group_size=3, seed=100 * step, env_kwargs={"max_turns": 6}
        )
        env = gym.make(TOY, max_turns=6)
        try:
            batch.append(
                run_episode(
                    env,
                    ScriptedPolicy(["noop"]),
                    seed=step,
                    task_id="toy-1",
                    env_id=TOY,
                    env_kwargs={"max_turns": 6},
                    group_id=f"s{step}",
                    sample_index=0,
                )
            )
            batch.append(
                run_episode(
                    env, OraclePolicy(), seed=step, task_id="toy-2", env_id=TOY, env_kwargs={"max_turns": 6}
                )
            )
        finally:
            env.close()
        for record in batch:
            data = record.model_dump(mode="json", by_alias=True)
            data["train_step"] = step
            records.append(EpisodeRecord.model_validate(data))
    invalid = records[0].model_dump(mode="json", by_alias=True)
    invalid.update(
        episode_id="broken", reward_invalid=True, error="infrastructure: sandbox died", group_id="g-invalid"
    )
    records.append(EpisodeRecord.model_validate(invalid))
    return records


@pytest.fixture(scope="module")
def run_file(tmp_path_factory, run_records):
    path = tmp_path_factory.mktemp("run") / "run.jsonl"
    with TrajectoryWriter(path, fsync=False) as writer:
        for record in run_records:
            writer.write(record)
    return path


@pytest.fixture(scope="module")
def report_file(run_file):
    out = run_file.parent / "report.html"
    write_report(run_file, out)
    return out


def test_report_numbers(run_records):
    data = compute_report_data(run_records)
    assert data.episodes == len(run_records) and data.invalid == 1
    assert data.valid == sum(not r.reward_invalid for r in run_records)
    # one row per policy on the one env: random (over its seeds), the stalling script, the oracle
    assert [(r.env, r.policy) for r in data.rows] == [
        ("StallOrSubmit-v0", "random"),
        ("StallOrSubmit-v0", "scripted"),
        ("StallOrSubmit-v0", "oracle"),
    ]
    row = data.row("StallOrSubmit-v0", "random")
    randoms = [r for r in run_records if r.policy["name"] == "random"]
    valid = [r for r in randoms if not r.reward_invalid]
    assert row.episodes == len(randoms) and row.invalid == 1
    detail = row.detail  # the training-step view of random on the toy only
    assert detail.x_label == "training step"
    assert detail.returns["gated"].curve_x == [0.0, 1.0, 2.0]
    assert detail.returns["direct"].mean == pytest.approx(
        sum(r.report.return_direct for r in valid) / len(valid)
    )
    assert row.returns["direct"] == pytest.approx(detail.returns["direct"].mean)
    assert {"completed", "success"} <= set(detail.rates)
    indicator = {i.key: i for i in detail.indicators}
    assert indicator["stalling"].value == pytest.approx(sum(stalled(r) for r in valid) / len(valid))
    assert indicator["tampering"].value is None  # the toy has no tamper component
    gap = sum(r.report.return_direct - r.report.return_outcome for r in valid) / len(valid)
    assert indicator["proxy_gap"].value == pytest.approx(gap)
    top_gate = next(iter(detail.gate_open.values()))
    assert top_gate == pytest.approx(sum(r.report.levels[0].gate_open for r in valid) / len(valid))
    assert set(detail.zero_variance) == {"gated", "direct", "outcome"}
    assert 0.0 <= detail.zero_variance["outcome"] <= 1.0
    assert detail.groups == 9 + 1  # 3 groups per training step, and the invalid episode's
    assert "outcome" in detail.label_counts and sum(detail.label_counts["outcome"].values()) == len(valid)
    assert "critic" in detail.step_component_totals
    # the script that only stalls: every episode runs into the turn cap
    scripted = data.row("StallOrSubmit-v0", "scripted")
    assert {i.key: i for i in scripted.detail.indicators}["stalling"].value == 1.0
    assert scripted.success == 0.0 and scripted.pass_k == {}  # its groups have one sample each
    assert data.row("StallOrSubmit-v0", "oracle").groups == 0


def test_report_is_self_contained(report_file):
    page = report_file.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(https?:)?//", page)
    assert 'data-chart="env0"' in page  # the toy's policies side by side
    for chart in EXPECTED_CHARTS:
        assert f'data-chart="p0-{chart}"' in page  # random's episode-order charts
        assert f'data-chart="{chart}"' not in page  # never over the whole run
    # ids inside the inline SVGs are unique across the page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


@pytest.mark.browser
def test_report_renders_in_headless_chromium(report_file, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(reason=f"{CHROMIUM} not installed (apt-get install -y chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from PIL import Image

    out = report_file
    errors: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(out.as_uri())
            page.screenshot(path=str(tmp_path / "full.png"), full_page=True)
            assert page.title().startswith("agentgym report")
            assert page.locator("#env-policy-table tbody tr").count() == 3
            page.locator("details#pair-0 > summary").click()  # random on the toy
            for chart in ["env0", *(f"p0-{c}" for c in EXPECTED_CHARTS)]:
                element = page.locator(f'svg[data-chart="{chart}"]')
                assert element.count() == 1, chart
                element.scroll_into_view_if_needed()
                box = element.bounding_box()
                assert box is not None and box["width"] > 200 and box["height"] > 100, (chart, box)
                image = Image.open(io.BytesIO(element.screenshot())).convert("RGB")
                colours = image.getcolors(maxcolors=1 << 20) or []
                assert len(colours) > 8, f"chart {chart} looks empty ({len(colours)} colours)"
                # not one colour dominating: the plotted marks cover a visible share of the area
                dominant = max(count for count, _ in colours) / (image.width * image.height)
                assert dominant < 0.97, f"chart {chart} is {dominant:.1%} one colour"
            cards = page.locator("details#pair-0 [data-indicator]")
            assert cards.count() >= 4
        finally:
            browser.close()
    assert errors == []
    assert (tmp_path / "full.png").stat().st_size > 10_000


def test_report_command(run_file, tmp_path):
    from typer.testing import CliRunner

    from agentgym.cli.main import app

    out = tmp_path / "cli.html"
    result = CliRunner().invoke(app, ["report", str(run_file.parent), "--html", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists() and 'id="env-policy-table"' in out.read_text()
    result = CliRunner().invoke(app, ["report", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2


def test_training_step_is_read_from_the_policy_description(run_records):
    from agentgym.report.data import training_step

    data = run_records[0].model_dump(mode="json", by_alias=True)
    data.pop("train_step")
    record = EpisodeRecord.model_validate(data)
    assert training_step(record) is None
    record.policy["train_step"] = 7  # what the GRPO trainer stamps
    assert training_step(record) == 7.0
