"""Policy-token masking: env/tool tokens get exactly zero gradient; segments are assembled exactly."""

from __future__ import annotations

import torch

from agentgym.baselines.train.constrained import ActionTrie
from agentgym.baselines.train.grpo import clipped_policy_loss, tiny_model, token_logprobs, top_forward
from agentgym.baselines.train.sequences import episode_segments
from agentgym.trajectory import EpisodeRecord, StepRecord, TurnTokens


def _record(turns: list[tuple[list[int], list[int]]]) -> EpisodeRecord:
    steps = [
        StepRecord(turn=i + 1, action="", observation="", tokens=TurnTokens(
            prompt_token_ids=p, completion_token_ids=c, logprobs=[-1.0] * len(c)))
        for i, (p, c) in enumerate(turns)
    ]
    return EpisodeRecord(env_id="x", task_id="t", steps=steps)


def test_segments_mark_exactly_the_completions():
    p1, c1 = [1, 10, 11, 12], [20, 21]
    p2 = p1 + c1 + [13, 14]
    c2 = [22]
    seqs = episode_segments(_record([(p1, c1), (p2, c2)]))
    assert len(seqs.segments) == 1 and seqs.rebuilt == 0
    seg = seqs.segments[0]
    assert seg.input_ids == p2 + c2
    assert seg.policy_mask == [False] * 4 + [True, True] + [False, False] + [True]
    assert seg.loss_mask == seg.policy_mask
    assert seg.turn == [-1] * 4 + [0, 0, -1, -1, 1]


def test_prompt_that_does_not_extend_starts_a_new_segment():
    p1, c1 = [1, 10, 11], [20]
    p2 = [1, 99, 11, 20, 13]  # history rewritten: never train turn 2 under turn 1's context
    seqs = episode_segments(_record([(p1, c1), (p2, [21])]))
    assert len(seqs.segments) == 2 and seqs.rebuilt == 1
    assert seqs.segments[1].input_ids == p2 + [21]


def test_forced_tokens_are_not_loss_tokens(tokenizer):
    trie = ActionTrie.from_words(tokenizer, ["work", "noop", "submit"])
    noop = tokenizer.encode("noop", add_special_tokens=False)
    assert len(noop) == 2  # "no" + "op": the second piece and the end token are forced
    completion = noop + [tokenizer.eos_token_id]
    seg = episode_segments(_record([([1, 5, 6], completion)]), trie).segments[0]
    assert seg.policy_mask[-3:] == [True, True, True]
    assert seg.loss_mask[-3:] == [True, False, False]


def _masked_gradients(tokenizer):
    torch.manual_seed(0)
    model = tiny_model(tokenizer, seed=0)
    p1, c1 = [1, 30, 31, 32, 33], [40, 41]
    p2 = p1 + c1 + [34, 35, 36]
    c2 = [42, 43, 44]
    seg = episode_segments(_record([(p1, c1), (p2, c2)])).segments[0]
    seg.input_ids.extend([50, 51, 52])  # trailing env tokens after the last policy token
    seg.loss_mask.extend([False] * 3)
    captured = {}

    def keep(module, args, output):
        output.retain_grad()
        captured["hidden"] = output

    handle = model.get_decoder().norm.register_forward_hook(keep)
    logp, positions = token_logprobs(model, seg, 1.0)
    handle.remove()
    old = logp.detach() - 0.1
    per_token, _ = clipped_policy_loss(logp, old, torch.tensor([1.0, -0.5, 2.0, 0.3, -1.0]), clip_eps=0.2)
    per_token.sum().backward()
    grad = captured["hidden"].grad[0]  # d loss / d final hidden state, per position
    return seg, positions, grad, model


def test_env_positions_receive_exactly_zero_gradient(tokenizer):
    seg, positions, grad, _ = _masked_gradients(tokenizer)
    predicting_policy = set((positions - 1).tolist())  # hidden state i predicts token i + 1
    assert predicting_policy == {i - 1 for i, m in enumerate(seg.loss_mask) if m}
    for i in range(grad.shape[0]):
        norm = float(grad[i].abs().sum())
        if i in predicting_policy:
            assert norm > 0.0, f"policy position {i} got no gradient"
        else:
            assert norm == 0.0, f"env/tool position {i} got gradient {norm}"


def test_loss_ignores_the_identity_of_masked_next_tokens(tokenizer):
    """Replacing an env token changes no prediction target, only context: the trailing ones change nothing."""
    seg, _, _, model = _masked_gradients(tokenizer)
    with torch.no_grad():
        a, _ = token_logprobs(model, seg, 1.0)
        seg.input_ids[-3:] = [60, 61, 62]  # env tokens after the last policy token
        b, _ = token_logprobs(model, seg, 1.0)
    assert torch.equal(a, b)


def test_trunk_features_give_the_same_logprobs_as_a_full_forward(tokenizer):
    model = tiny_model(tokenizer, seed=1, layers=3)
    seg = episode_segments(_record([([1, 30, 31, 32], [40, 41]), ([1, 30, 31, 32, 40, 41, 33], [42])])).segments[0]
    captured = []
    handle = model.get_decoder().layers[1].register_forward_pre_hook(
        lambda m, args, kwargs: captured.append(args[0][0].detach().clone()), with_kwargs=True)
    with torch.no_grad():
        full, _ = token_logprobs(model, seg, 1.0)
        handle.remove()
        needed = max(i for i, m in enumerate(seg.loss_mask) if m)
        top, _ = token_logprobs(model, seg, 1.0, features=captured[0][:needed], first_layer=1)
        hidden = top_forward(model, captured[0], 1)
    assert hidden.shape == (len(seg.input_ids), model.config.hidden_size)
    assert torch.allclose(full, top, atol=1e-5)
