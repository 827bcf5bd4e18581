"""In-process backends: vLLM (``vllm.LLM`` with prefix caching) and transformers.

Both are optional and imported only when constructed. Generation blocks a GPU for seconds, so it
runs in a worker thread (asyncio.to_thread) behind a lock: the event loop keeps serving other
rollouts' env work meanwhile. tests/test_models_local.py runs TransformersBackend on a tiny model it
trains on the CPU (no hub), and VLLMBackend's mapping of vLLM's output objects against a stand-in
for vllm.LLM (vLLM itself needs CUDA, and its wheel cannot reach the lent GPU machine).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from agentgym.actions import NOT_JSON, loads_or
from agentgym.models.base import (
    ChatMessage,
    ChatResult,
    ChatUsage,
    Choice,
    ContextWindowExceeded,
    ModelBackend,
    ModelError,
    TokenSample,
    parse_tool_calls,
    tool_call_dict,
)

# Hermes/Qwen-style chat templates wrap calls in <tool_call>...</tool_call>; others emit bare JSON.
_OPEN, _CLOSE = "<tool_call>", "</tool_call>"
# Mistral's format: [TOOL_CALLS] then a JSON list of {"name", "arguments", "id"?}.
_MISTRAL = "[TOOL_CALLS]"


def _mistral_calls(text: str) -> tuple[str | None, list[dict[str, Any]]]:
    head, _, rest = text.partition(_MISTRAL)
    items = loads_or(rest)
    if items is NOT_JSON:  # the env reports it
        return head.strip() or None, [tool_call_dict("", rest.strip(), "call_0")]
    calls = []
    for i, obj in enumerate(items if isinstance(items, list) else [items]):
        obj = obj if isinstance(obj, dict) else {}
        args = obj.get("arguments", {})
        cid = obj.get("id") if isinstance(obj.get("id"), str) else f"call_{i}"
        calls.append(tool_call_dict(str(obj.get("name", "")), args if isinstance(args, (dict, str)) else {}, cid))
    return head.strip() or None, calls


def extract_tool_calls(text: str) -> tuple[str | None, list[dict[str, Any]]]:
    """Split generated text into (content, raw OpenAI-style tool calls). A tagged block that is not
    valid JSON is kept as a call with the text as its arguments, so the env reports it."""
    if _MISTRAL in text:
        return _mistral_calls(text)
    blocks, content = _tagged(text)
    if not blocks:
        stripped = text.strip()
        if stripped.startswith("{") and '"name"' in stripped:
            blocks = [stripped]
        else:
            return text, []
    calls = []
    for i, block in enumerate(blocks):
        obj = loads_or(block)
        if obj is NOT_JSON:  # the env reports it
            calls.append(tool_call_dict("", block, f"call_{i}"))
            continue
        name = obj.get("name", "") if isinstance(obj, dict) else ""
        args = obj.get("arguments", obj.get("parameters", {})) if isinstance(obj, dict) else {}
        calls.append(tool_call_dict(str(name), args if isinstance(args, (dict, str)) else {}, f"call_{i}"))
    return content, calls


def _tagged(text: str) -> tuple[list[str], str | None]:
    """(the stripped insides of the <tool_call> blocks, the text around them stripped), in one
    pass of str.find. The regex it replaces, <tool_call>\\s*(.*?)\\s*</tool_call>, backtracked in
    cubic time over whitespace after an unclosed tag: a reply of '<tool_call>' and 2000 spaces
    (what a degenerate policy samples) took 7 s to parse, 8000 many minutes, and the rollout or
    training loop stalled on it."""
    blocks, rest, pos = [], [], 0
    while (start := text.find(_OPEN, pos)) >= 0 and (end := text.find(_CLOSE, start + len(_OPEN))) >= 0:
        rest.append(text[pos:start])
        blocks.append(text[start + len(_OPEN) : end].strip())
        pos = end + len(_CLOSE)
    rest.append(text[pos:])
    return blocks, "".join(rest).strip() or None


def _choice(i: int, text: str, finish: str | None, token_ids: list[int] | None) -> Choice:
    content, raw = extract_tool_calls(text)
    parsed, raw = parse_tool_calls(raw)
    return Choice(index=i, message=ChatMessage(content=content, tool_calls=parsed, raw_tool_calls=raw), finish_reason="tool_calls" if raw else finish, token_ids=token_ids)


def _rope_scaled(cfg: Any) -> int:
    """factor x original_max_position_embeddings of the config's rope scaling, where it names both; else 0."""
    for name in ("rope_scaling", "rope_parameters"):
        rope = getattr(cfg, name, None)
        if isinstance(rope, dict):
            factor, original = rope.get("factor"), rope.get("original_max_position_embeddings")
            if isinstance(factor, (int, float)) and factor > 1 and isinstance(original, int) and original > 0:
                return int(factor * original)
    return 0


class VLLMBackend(ModelBackend):
    """vllm.LLM in this process. Prefix caching is on: agent turns share a growing prefix."""

    def __init__(self, model: str, **llm_kwargs: Any):
        try:
            import vllm
        except ImportError as exc:
            raise ImportError("VLLMBackend needs vllm (pip install 'agentgym[vllm]', Linux + CUDA); or run `vllm serve MODEL` and use OpenAICompatibleBackend") from exc
        self._vllm = vllm
        self.model = model
        llm_kwargs.setdefault("enable_prefix_caching", True)
        self.llm = vllm.LLM(model=model, **llm_kwargs)
        self._lock = threading.Lock()  # vllm.LLM is not safe to call from two threads at once

    def _generate(self, messages, tools, n, temperature, max_tokens, seed) -> ChatResult:
        params = self._vllm.SamplingParams(n=n, temperature=temperature, max_tokens=max_tokens, seed=seed)
        with self._lock:
            out = self.llm.chat(messages, params, tools=tools, use_tqdm=False)[0]
        choices = [_choice(i, o.text, o.finish_reason, list(o.token_ids)) for i, o in enumerate(out.outputs)]
        usage = ChatUsage(
            input_tokens=len(out.prompt_token_ids or []),
            cached_input_tokens=int(getattr(out, "num_cached_tokens", 0) or 0),
            output_tokens=sum(len(o.token_ids) for o in out.outputs),
        )
        return ChatResult(choices=choices, usage=usage, model=self.model, prompt_token_ids=list(out.prompt_token_ids or []))

    async def chat(self, messages, tools=None, *, n=1, temperature=0.0, max_tokens=None, seed=None) -> ChatResult:
        return await asyncio.to_thread(self._generate, messages, tools, n, temperature, max_tokens or 1024, seed)

    def _generate_ids(self, prompt_ids, max_tokens, temperature, seed, stop_ids) -> TokenSample:
        # logprobs=0: the sampled token's own logprob (vLLM adds it to the top-0 list); a token
        # prompt is taken as is (no template, no tokenizer).
        params = self._vllm.SamplingParams(temperature=temperature, max_tokens=max_tokens, seed=seed, logprobs=0,
                                           stop_token_ids=list(stop_ids) or None, skip_special_tokens=False)
        with self._lock:
            out = self.llm.generate([{"prompt_token_ids": list(prompt_ids)}], params, use_tqdm=False)[0].outputs[0]
        ids = list(out.token_ids)
        logprobs = [float(step[tok].logprob) for tok, step in zip(ids, out.logprobs or [])]
        if len(logprobs) != len(ids):
            raise RuntimeError(f"vLLM returned {len(logprobs)} logprobs for {len(ids)} sampled ids")
        return TokenSample(ids=ids, logprobs=logprobs, finish_reason=out.finish_reason)

    async def generate_ids(self, prompt_ids, *, max_tokens, temperature=1.0, seed=None, stop_ids=()) -> TokenSample:
        return await asyncio.to_thread(self._generate_ids, prompt_ids, max_tokens, temperature, seed, stop_ids)


class TransformersBackend(ModelBackend):
    """A Hugging Face model with transformers, on a GPU when one is present. For small models and
    debugging: no batching across requests, no prefix cache (cached_input_tokens is always 0)."""

    def __init__(self, model: str, device: str | None = None, *, tokenizer: Any = None, **model_kwargs: Any):
        """``tokenizer``: None loads the model directory's; an object is used as is; False loads
        none (token-in/token-out only, e.g. with a Mistral tokenizer outside transformers)."""
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise ImportError("TransformersBackend needs torch and transformers: pip install torch transformers") from exc
        self._torch = torch
        self.model = model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(model) if tokenizer is None else (tokenizer or None)
        self.lm = transformers.AutoModelForCausalLM.from_pretrained(model, **model_kwargs).to(self.device)
        self._lock = threading.Lock()

    def context_window(self) -> int | None:
        """The most positions the model takes (prompt and generated ids together), from its config;
        None when the config names none. A rope scaling that names its factor and the original
        window (YaRN, Llama 3's: Qwen2.5 with YaRN factor 4 keeps 32768 in max_position_embeddings
        and serves 131072, as vLLM reads it) counts: factor x original, when that is larger."""
        cfg = getattr(self.lm, "config", None)
        for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
            value = getattr(cfg, name, None)
            if isinstance(value, int) and value > 0:
                return max(value, _rope_scaled(cfg))
        return None

    def _room(self, prompt_len: int, max_tokens: int, *, first: bool = False) -> int:
        """max_tokens, cut to what the context window leaves after the prompt. A prompt that fills
        the window is ContextWindowExceeded, as a server's context-length 400 is: the episode ends
        as truncated ('max_context'), where a model past its positions would crash (learned
        positions) or go on with positions it was never trained on (rotary ones). ``first``: the
        prompt holds no reply yet (statement and tool schemas only): then it is the configuration's
        failure, not the policy's, a ModelError (an infrastructure error: dropped, never scored 0)."""
        window = self.context_window()
        if window is None:
            return max_tokens
        if prompt_len >= window and first:
            raise ModelError(f"TransformersBackend({self.model!r}): the task's first prompt (statement and tool schemas) is "
                             f"{prompt_len} tokens and the model's context window is {window}: nothing fits before the agent "
                             "acts; use a model with a longer window, or shorter tools (fewer, shorter descriptions)")
        if prompt_len >= window:
            raise ContextWindowExceeded(f"TransformersBackend({self.model!r}): the conversation is {prompt_len} tokens and "
                                        f"the model's context window is {window} (max_position_embeddings): nothing fits")
        return min(max_tokens, window - prompt_len)

    def _generate(self, messages, tools, n, temperature, max_tokens, seed) -> ChatResult:
        torch = self._torch
        if self.tokenizer is None:
            raise ValueError(f"TransformersBackend({self.model!r}) was made with tokenizer=False: it serves generate_ids only, not chat")
        # return_dict: transformers 5 returns a BatchEncoding here whatever is asked; 4.x a tensor
        # unless asked. Asking gives the same shape on both.
        enc = self.tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        ids = enc["input_ids"].to(self.device)
        mask = enc["attention_mask"].to(self.device) if "attention_mask" in enc else None
        first = not any((m.get("role") if isinstance(m, dict) else getattr(m, "role", None)) == "assistant" for m in messages)
        max_tokens = self._room(ids.shape[1], max_tokens, first=first)
        sample = temperature > 0
        with self._lock, torch.no_grad():
            if seed is not None:  # under the lock: another thread's seed must not land between this and generate
                torch.manual_seed(seed)
            out = self.lm.generate(
                ids, attention_mask=mask, max_new_tokens=max_tokens, num_return_sequences=n, do_sample=sample,
                temperature=temperature if sample else None, pad_token_id=self.tokenizer.eos_token_id,
            )
        prompt_len = ids.shape[1]
        choices, n_out = [], 0
        for i, seq in enumerate(out):
            gen = seq[prompt_len:].tolist()
            if self.tokenizer.eos_token_id in gen:
                gen, finish = gen[: gen.index(self.tokenizer.eos_token_id)], "stop"
            else:
                finish = "length"
            n_out += len(gen)
            choices.append(_choice(i, self.tokenizer.decode(gen, skip_special_tokens=True), finish, gen))
        usage = ChatUsage(input_tokens=prompt_len, output_tokens=n_out)
        return ChatResult(choices=choices, usage=usage, model=self.model, prompt_token_ids=ids[0].tolist())

    async def chat(self, messages, tools=None, *, n=1, temperature=0.0, max_tokens=None, seed=None) -> ChatResult:
        return await asyncio.to_thread(self._generate, messages, tools, n, temperature, max_tokens or 1024, seed)

    # -- token in, token out (agentgym.rl) -------------------------------------------------------------
    def stop_ids(self) -> list[int]:
        """The model's end-of-turn ids (generation config first, then the tokenizer's eos)."""
        eos = getattr(getattr(self.lm, "generation_config", None), "eos_token_id", None)
        ids = eos if isinstance(eos, list) else [eos]
        return sorted({i for i in [*ids, getattr(self.tokenizer, "eos_token_id", None)] if isinstance(i, int)})

    def _generate_ids(self, prompt_ids, max_tokens, temperature, seed, stop_ids) -> TokenSample:
        torch = self._torch
        stops = sorted({*stop_ids, *self.stop_ids()})
        if not prompt_ids:
            raise ValueError("generate_ids needs at least one prompt id (render the conversation first)")
        if not stops:
            raise ValueError(f"TransformersBackend({self.model!r}) knows no stop id (its generation config and tokenizer "
                             "name no eos); pass stop_ids= (e.g. the chat format's)")
        max_tokens = self._room(len(prompt_ids), max_tokens)
        ids = torch.tensor([list(prompt_ids)], device=self.device)
        sample = temperature > 0
        with self._lock, torch.no_grad():
            if seed is not None:  # under the lock (see _generate)
                torch.manual_seed(seed)
            # top_k=0 / top_p=1: sample from the whole softmax(logits / T), so the logprob recorded
            # below is the sampler's (a model's generation config may narrow it otherwise).
            out = self.lm.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens, do_sample=sample,
                temperature=temperature if sample else None, top_k=0 if sample else None, top_p=1.0 if sample else None,
                eos_token_id=stops, pad_token_id=stops[0], output_logits=True, return_dict_in_generate=True,
            )
        gen = out.sequences[0, ids.shape[1]:].tolist()
        logits = torch.stack(out.logits, 0)[:, 0, :].float()
        logp = torch.log_softmax(logits / (temperature if sample else 1.0), dim=-1)
        lps = [float(logp[i, t]) for i, t in enumerate(gen)]
        finish = "length"
        for i, t in enumerate(gen):
            if t in stops:  # keep the sampled stop id; nothing after it was sampled for this sequence
                gen, lps, finish = gen[: i + 1], lps[: i + 1], "stop"
                break
        return TokenSample(ids=gen, logprobs=lps, finish_reason=finish)

    async def generate_ids(self, prompt_ids, *, max_tokens, temperature=1.0, seed=None, stop_ids=()) -> TokenSample:
        return await asyncio.to_thread(self._generate_ids, prompt_ids, max_tokens, temperature, seed, stop_ids)

    def logprobs_of(self, ids: list[int], start: int, temperature: float = 1.0) -> list[float]:
        """Teacher-forced logprob of ids[start:] given everything before each (what a trainer
        recomputes; checks that a record's ids are what the model was conditioned on)."""
        if not 1 <= start <= len(ids):
            raise ValueError(f"start must be in 1..{len(ids)} (at least one id of context before the scored ones), not {start}")
        torch = self._torch
        seq = torch.tensor([ids], device=self.device)
        with self._lock, torch.no_grad():
            logits = self.lm(seq).logits[0, start - 1 : len(ids) - 1].float()
        logp = torch.log_softmax(logits / (temperature if temperature > 0 else 1.0), dim=-1)
        return [float(logp[i, t]) for i, t in enumerate(ids[start:])]
