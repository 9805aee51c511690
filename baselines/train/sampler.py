"""The trainer's in-process rollout policy: transformers model, exact tokens, KV cache across turns.

`LocalTokenPolicy` implements the `agentgym.policy.Policy` protocol for a model held in memory
(the one being trained). Per conversation it keeps the token ids it has seen and produced, and the
model's KV cache: the next turn's prompt is *the previous turn's prompt + completion ids + the
tokens of the new messages* (rendered by the chat template and appended as a text delta), never a
re-tokenization of decoded text (token drift). Only the new tokens are prefilled,
so a turn costs a few dozen tokens of compute on CPU instead of the whole conversation.

Sampling is plain ancestral sampling at `temperature` (no top-k/top-p, so the recorded logprobs
are exactly the sampling distribution the trainer's ratio needs), from a seeded `torch.Generator`
(`reseed(...)` per rollout batch makes runs reproducible), optionally restricted to an
`ActionTrie`.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch

from agentgym.baselines.agent.chat import ChatFormat
from agentgym.baselines.agent.toolcalls import assistant_message
from agentgym.baselines.train.constrained import ActionTrie
from agentgym.policy import PolicyOutput


@dataclass
class _Conversation:
    ids: list[int]
    text: str
    cache: Any  # transformers Cache covering ids[:cached]
    cached: int
    features: Any = None  # [cached, hidden] inputs of the first trainable block (frozen trunk)


def _key(messages: list[dict[str, Any]]) -> str:
    return json.dumps([(m.get("role"), m.get("content") or "") for m in messages], ensure_ascii=False)


class LocalTokenPolicy:
    """Sample turns from an in-memory causal LM, recording exact prompt/completion ids and logprobs."""

    name = "local-token"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_new_tokens: int = 32,
        temperature: float = 1.0,
        action_trie: ActionTrie | None = None,
        system_prompt: str | None = None,
        seed: int = 0,
        reuse_cache: bool = True,
        max_conversations: int = 64,
        feature_layer: int | None = None,
        render_tools: bool | None = None,
    ) -> None:
        if temperature <= 0:
            raise ValueError("temperature must be > 0 (the trainer needs the sampling distribution)")
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.trie = action_trie
        self.system_prompt = system_prompt
        # The prompt layout of every policy backend (`baselines/agent/chat.py`: tools in the template
        # or in the system prompt, tool results as the template expects them), so rollouts, SFT data
        # and served policies see the same tokens. render_tools=False: bare role/content messages;
        # None: tools rendered when decoding is free (an action trie answers with bare words instead).
        if render_tools is None:
            render_tools = action_trie is None
        self.chat = ChatFormat(tokenizer) if render_tools else None
        self.reuse_cache = reuse_cache
        self.max_conversations = max_conversations
        self.stop_ids = {int(tokenizer.eos_token_id)} if tokenizer.eos_token_id is not None else set()
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(seed)
        self._conversations: OrderedDict[str, _Conversation] = OrderedDict()
        # With a frozen trunk (layers below `feature_layer`), record the hidden states entering that
        # block for every forwarded token: the trainer then runs only the trainable top blocks.
        self.feature_layer = feature_layer
        self._captured: list[torch.Tensor] = []
        if feature_layer is not None:
            block = model.get_decoder().layers[feature_layer]
            block.register_forward_pre_hook(self._capture_hook, with_kwargs=True)
        self._capturing = False
        self.stats = {"turns": 0, "retokenized": 0, "prefill_tokens": 0, "decode_steps": 0}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ protocol
    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": getattr(getattr(self.model, "config", None), "_name_or_path", "") or type(self.model).__name__,
            "temperature": self.temperature,
            "max_new_tokens": self.max_new_tokens,
            "action_trie": self.trie.describe() if self.trie else None,
            "system_prompt": self.system_prompt,
        }

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(int(seed))

    def reset_cache(self) -> None:
        self._conversations.clear()
        self._prefix = None

    # Episodes of one env share a long prompt head (system prompt + tool schemas): the KV cache (and
    # trunk features) of the last fresh prompt is kept, and a new conversation starts from its
    # longest common prefix, so only the new tokens are prefilled. Cleared with the weights' cache.
    _prefix: tuple[list[int], Any, Any] | None = None
    MIN_SHARED_PREFIX = 32

    def _from_prefix(self, ids: list[int]) -> tuple[Any, int, Any]:
        if not self.reuse_cache or self._prefix is None:
            return None, 0, None
        import copy

        prefix_ids, prefix_cache, prefix_features = self._prefix
        shared = 0
        for a, b in zip(prefix_ids, ids, strict=False):
            if a != b:
                break
            shared += 1
        shared = min(shared, len(ids) - 1)
        if shared < self.MIN_SHARED_PREFIX:
            return None, 0, None
        cache = copy.deepcopy(prefix_cache)
        if cache.get_seq_length() > shared:
            cache.crop(shared - cache.get_seq_length())
        features = prefix_features[:shared] if prefix_features is not None else None
        self.stats["prefix_reused_tokens"] = self.stats.get("prefix_reused_tokens", 0) + shared
        return cache, shared, features

    def _keep_prefix(self, ids: list[int], cache: Any, features: Any) -> None:
        import copy

        if self._prefix is not None and len(self._prefix[0]) >= len(ids) and self._prefix[0][: len(ids)] == ids:
            return
        kept = copy.deepcopy(cache)
        if kept.get_seq_length() < len(ids):
            return
        if kept.get_seq_length() > len(ids):
            kept.crop(len(ids) - kept.get_seq_length())
        self._prefix = (list(ids), kept, features[: len(ids)] if features is not None else None)

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
        msgs = [dict(m) for m in messages]
        if self.system_prompt is not None:
            if msgs and msgs[0].get("role") == "system":
                msgs[0]["content"] = self.system_prompt
            else:
                msgs.insert(0, {"role": "system", "content": self.system_prompt})
        if self.chat is not None:
            return self.chat.render_text(msgs, tools or None)
        msgs = [{"role": m["role"], "content": m.get("content") or ""} for m in msgs]
        return self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        # One turn at a time: a turn reads and writes shared state (the conversations' caches, the
        # trunk features the forward hook captures, the model's train/eval mode, the generator), and
        # torch runs two threads' forwards at once. Concurrent episodes (`--concurrency`) still
        # overlap their env calls; their model turns take turns here.
        with self._lock:
            return self._act(messages, tools)

    @torch.no_grad()
    def _act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        text = self.render(messages, tools)
        last_assistant = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
        state = self._conversations.pop(_key(messages[: last_assistant + 1]), None) if last_assistant >= 0 else None
        retokenized = False
        features = None
        if state is not None and text.startswith(state.text):
            ids = state.ids + self._encode(text[len(state.text):])
            cache, cached = (state.cache, state.cached) if self.reuse_cache else (None, 0)
            features = state.features if self.reuse_cache else None
        else:
            retokenized = last_assistant >= 0
            ids = self._encode(text)
            cache, cached, features = self._from_prefix(ids)
        self.stats["turns"] += 1
        self.stats["retokenized"] += int(retokenized)

        was_training = self.model.training
        self.model.eval()
        self._captured = [] if features is None else [features]
        self._capturing = self.feature_layer is not None
        try:
            completion, logprobs, cache, cached = self._sample(ids, cache, cached)
        finally:
            self.model.train(was_training)
            self._capturing = False
        if self.feature_layer is not None and self._captured:
            features = torch.cat(self._captured, dim=0)
            self._captured = []
        finish = "stop" if completion and completion[-1] in self.stop_ids else "length"
        content = self.tokenizer.decode(completion, skip_special_tokens=True)
        full_ids = ids + completion
        new_state = _Conversation(
            ids=full_ids, text=text + self.tokenizer.decode(completion, skip_special_tokens=False),
            cache=cache, cached=cached, features=features,
        )
        if state is None and self.reuse_cache and cache is not None:
            self._keep_prefix(ids, cache, features)
        message = assistant_message(content) if self.chat is not None else {"role": "assistant", "content": content}
        self._conversations[_key([*messages, message])] = new_state
        while len(self._conversations) > self.max_conversations:
            self._conversations.popitem(last=False)
        return PolicyOutput(
            message=message,
            prompt_token_ids=ids,
            completion_token_ids=completion,
            logprobs=logprobs,
            finish_reason=finish,
            meta={"retokenized": retokenized},
        )

    def _capture_hook(self, module: Any, args: tuple, kwargs: dict) -> None:
        if self._capturing:
            hidden = args[0] if args else kwargs["hidden_states"]
            self._captured.append(hidden[0].detach().clone())

    def features_for(self, ids: list[int], needed: int) -> torch.Tensor | None:
        """Recorded trunk features of the first `needed` positions of `ids`, if a conversation has them."""
        for state in reversed(self._conversations.values()):
            if state.features is not None and state.features.shape[0] >= needed and state.ids[:needed] == ids[:needed]:
                return state.features[:needed]
        return None

    def _forward(self, ids: list[int], cache: Any, cached: int) -> tuple[torch.Tensor, Any, int]:
        new = ids[cached:]
        self.stats["prefill_tokens"] += len(new)
        self.stats["decode_steps"] += 1
        out = self.model(
            input_ids=torch.tensor([new], dtype=torch.long, device=self.model.device),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return out.logits[0, -1].float(), out.past_key_values, len(ids)

    def _sample(self, ids: list[int], cache: Any, cached: int) -> tuple[list[int], list[float], Any, int]:
        completion: list[int] = []
        logprobs: list[float] = []
        logits = None
        for _ in range(self.max_new_tokens):
            allowed = self.trie.allowed(completion) if self.trie is not None else None
            if allowed is not None and len(allowed) == 0:
                break
            if allowed is not None and len(allowed) == 1:  # forced token: probability 1, no forward needed
                token, logprob = allowed[0], 0.0
            else:
                if logits is None:
                    logits, cache, cached = self._forward(ids + completion, cache, cached)
                scores = logits / self.temperature
                if allowed is not None:
                    mask = torch.full_like(scores, float("-inf"))
                    mask[allowed] = 0.0
                    scores = scores + mask
                logp = torch.log_softmax(scores, dim=-1)
                token = int(torch.multinomial(logp.exp().cpu(), 1, generator=self.generator).item())
                logprob = float(logp[token])
            completion.append(token)
            logprobs.append(logprob)
            logits = None
            if token in self.stop_ids:
                break
        return completion, logprobs, cache, cached
