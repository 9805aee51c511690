"""Trainers: the toy REINFORCE learner, multi-turn GRPO, adapters for TRL and Ray."""
