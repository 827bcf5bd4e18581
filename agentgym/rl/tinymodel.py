"""A tiny causal LM built on this machine, for training runs on the CPU with no hub.

Why: the training path (TRL's GRPOTrainer and SFTTrainer, the adapters, `agentgym train`) must run
for real in tests and in `benchmarks/train.py` on a 2-core machine that reaches no model hub. So
the model is built here: a BPE tokenizer trained on the env's own texts (byte-level, so any text
still encodes), a real public chat template with tool calls (Qwen2.5's, as shipped inside the
`trl` package: TRL recognises it, parses its `<tool_call>` blocks and has its training variant),
and a small Llama. ``warm_start`` teaches it the template's shape (prompts and tool-call syntax,
never a task's solution) so that SFT and RL start from a model that speaks the format.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SYSTEM_PROMPT = "You are an agent in a sandbox. Use the tools to solve the task, then call submit."


def chat_template() -> str:
    """Qwen2.5's chat template with tools, from the trl package (a real public template)."""
    try:
        from trl.chat_template_utils import qwen2_5_chat_template
    except ImportError as exc:
        raise ImportError("the tiny model's chat template comes from trl: pip install 'agentgym[rl]'") from exc
    return qwen2_5_chat_template


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 1024):
    """A byte-level BPE tokenizer trained on ``corpus`` (seconds), with the Qwen2.5 template."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(corpus), trainer)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                                 additional_special_tokens=["<|im_start|>"])
    fast.chat_template = chat_template()
    fast.padding_side = "left"  # what GRPOTrainer asks of a processing class
    return fast


def build_model(tokenizer: Any, *, hidden: int = 64, layers: int = 2, heads: int = 4, max_positions: int = 4096, seed: int = 0):
    """A small Llama sized for the CPU; ``seed`` fixes its initial weights."""
    import torch
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 4, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=max_positions,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
        tie_word_embeddings=True,
    )
    return transformers.LlamaForCausalLM(cfg)


def prompt_messages(statement: str) -> list[dict[str, Any]]:
    """The conversation an episode starts from: our system prompt and the task statement."""
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": statement}]


def _generic_calls(tools: list[dict[str, Any]], rng: random.Random, n: int) -> list[str]:
    """Tool-call-shaped replies with made-up arguments: the syntax, not any task's answer."""
    words = ["ls", "cat notes.txt", "pwd", "head -n 3 file.txt", "echo hi", "wc -c data", "find .", "true"]
    out = []
    for _ in range(n):
        fn = rng.choice(tools)["function"]
        props = fn.get("parameters", {}).get("properties", {})
        args = {k: rng.choice(words) for k, v in props.items() if v.get("type") == "string" and rng.random() < 0.9}
        out.append(f'<tool_call>\n{json.dumps({"name": fn["name"], "arguments": args})}\n</tool_call><|im_end|>')
    return out


def warm_start(model: Any, tokenizer: Any, statements: list[str], tools: list[dict[str, Any]], *,
               steps: int = 60, lr: float = 3e-3, seed: int = 0) -> float:
    """Causal-LM steps on rendered prompts followed by generic tool calls, on the device the model
    is on (``model.to("cuda")`` first to warm-start on a GPU). Returns the last loss."""
    import torch

    rng = random.Random(seed)
    torch.manual_seed(seed)
    texts = []
    for statement, reply in zip(statements * 4, _generic_calls(tools, rng, 4 * len(statements))):
        prompt = tokenizer.apply_chat_template(prompt_messages(statement), tools=tools, add_generation_prompt=True, tokenize=False)
        texts.append(prompt + reply)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    loss = torch.tensor(0.0)
    for step in range(steps):
        text = texts[step % len(texts)]
        ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]], device=model.device)
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return float(loss.item())


def save(model: Any, tokenizer: Any, out: str | Path) -> str:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


__all__ = ["SPECIAL_TOKENS", "SYSTEM_PROMPT", "build_model", "build_tokenizer", "chat_template", "prompt_messages", "save", "warm_start"]
