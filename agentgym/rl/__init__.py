"""Training support: token-level rollouts, GRPO groups and advantages, export for trainers.

Import the pieces from their modules (``agentgym.rl.records``, ``.collect``, ``.groups``,
``.export``); this package's import stays light (no torch, no transformers) so that readers of
exported records need neither.
"""
