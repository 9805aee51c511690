"""SkyRL's generator (`skyrl_train`) for the adapter tests, and a CPU inference engine for it.

skyrl-train is published for Python 3.12 only and pins GPU packages (flash-attn, ray 2.51), so
it cannot be installed into agentgym's environment. scripts/setup.sh unpacks its pure-Python
wheel without dependencies into SKYRL_TRAIN_DIR; its generator then imports with what agentgym
already has. One name it imports moved in newer Ray (`PlacementGroupSchedulingStrategy`, now in
`ray.util.scheduling_strategies`); it is aliased back before the import. And it was written for
transformers 4, whose `apply_chat_template(tokenize=True)` returned a list of ids where
transformers 5 returns a `BatchEncoding`: `Transformers4Tokenizer` restores the old default.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SKYRL_TRAIN_DIR = Path(os.environ.get("AGENTGYM_SKYRL_TRAIN_DIR", ROOT / ".venv" / "skyrl-train-src"))


def import_skyrl_generator() -> Any:
    """The `skyrl_train.generators.skyrl_gym_generator` module, or None when it is not unpacked here."""
    if not (SKYRL_TRAIN_DIR / "skyrl_train").is_dir():
        return None
    if str(SKYRL_TRAIN_DIR) not in sys.path:
        sys.path.append(str(SKYRL_TRAIN_DIR))
    import ray.util.placement_group  # noqa: F401
    import ray.util.scheduling_strategies as strategies

    module = sys.modules["ray.util.placement_group"]
    if not hasattr(module, "PlacementGroupSchedulingStrategy"):
        module.PlacementGroupSchedulingStrategy = strategies.PlacementGroupSchedulingStrategy
    import skyrl_train.generators.skyrl_gym_generator as generator
    from loguru import logger

    logger.remove()  # skyrl logs every request at DEBUG (whole prompts): warnings only
    logger.add(sys.stderr, level="WARNING")
    return generator


class Transformers4Tokenizer:
    """A tokenizer whose `apply_chat_template(tokenize=True)` returns ids unless asked for a dict."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)

    def apply_chat_template(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("tokenize", True):
            kwargs.setdefault("return_dict", False)
        return self._tokenizer.apply_chat_template(*args, **kwargs)


def make_engine(tokenizer: Any, respond: Callable[[str, list[int]], list[int]]) -> Any:
    """A SkyRL `InferenceEngineInterface` on CPU: `respond(session_id, prompt_ids)` gives completion ids."""
    from skyrl_train.inference_engines.base import InferenceEngineInterface

    class CpuEngine(InferenceEngineInterface):
        async def generate(self, input_batch: Any) -> Any:
            sessions = input_batch.get("session_ids") or [None] * len(input_batch["prompt_token_ids"])
            ids = [respond(str(s), list(p)) for s, p in zip(sessions, input_batch["prompt_token_ids"], strict=True)]
            return {"responses": [tokenizer.decode(i, skip_special_tokens=True) for i in ids], "response_ids": ids,
                    "stop_reasons": ["stop"] * len(ids), "response_logprobs": None}

        async def chat_completion(self, request_payload: Any) -> Any:
            raise NotImplementedError

        async def completion(self, request_payload: Any) -> Any:
            raise NotImplementedError

        async def wake_up(self, *args: Any, **kwargs: Any) -> None:
            return None

        async def sleep(self, *args: Any, **kwargs: Any) -> None:
            return None

        async def init_weight_update_communicator(self, init_info: Any) -> None:
            return None

        async def update_named_weights(self, request: Any) -> None:
            return None

        async def teardown(self) -> None:
            return None

        async def reset_prefix_cache(self) -> None:
            return None

        async def abort_generation(self) -> None:
            return None

        def tp_size(self) -> int:
            return 1

        def pp_size(self) -> int:
            return 1

        def dp_size(self) -> int:
            return 1

    return CpuEngine()


def make_generator(module: Any, tokenizer: Any, engine: Any, *, env_config: dict[str, Any], max_turns: int,
                   max_generate_length: int) -> Any:
    """SkyRL's `SkyRLGymGenerator` with its multi-turn, token-in-token-out settings."""
    from omegaconf import OmegaConf
    from skyrl_train.inference_engines.inference_engine_client import InferenceEngineClient

    full = OmegaConf.create({
        "trainer": {"policy": {"model": {"path": "smollm2"}}},
        "generator": {"backend": "cpu", "enable_http_endpoint": False, "http_endpoint_host": "127.0.0.1",
                      "http_endpoint_port": 0},
    })  # fmt: skip
    tokenizer = Transformers4Tokenizer(tokenizer)
    client = InferenceEngineClient([engine], tokenizer, full)
    generator_cfg = OmegaConf.create({
        "max_turns": max_turns, "batched": False, "use_conversation_multi_turn": True, "chat_template": None,
        "chat_template_kwargs": {}, "step_wise_trajectories": False, "max_input_length": 8192,
        "append_eos_token_after_stop_str_in_multi_turn": True, "apply_overlong_filtering": False,
        "zero_reward_on_non_stop": False,
        "sampling_params": {"max_generate_length": max_generate_length, "temperature": 0.0, "logprobs": None,
                            "stop": None},
    })  # fmt: skip
    skyrl_gym_cfg = OmegaConf.create({"max_env_workers": 0, "agentgym": env_config})
    return module.SkyRLGymGenerator(generator_cfg, skyrl_gym_cfg, client, tokenizer, "smollm2")
