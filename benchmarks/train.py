"""Training works here, on the CPU, with no hub: a tiny model built on this machine, SFT with TRL's
SFTTrainer on the reference policy's passed trajectories of the env's train split, then GRPO with
TRL's GRPOTrainer against the env itself; reward before and after on train tasks and on the
held-out test-split tasks, over 3 seeds (model init and training seed), with 95% intervals.

    python benchmarks/train.py                  # shell-fixture, local runtime, seeds 0 1 2
    python benchmarks/train.py --json           # last stdout line is one JSON object
    python benchmarks/train.py --seeds 0 --grpo-steps 4    # a quick look
    make train-demo

Stages evaluated (greedy decoding, the chat format TRL trains in; agentgym.rl.trl_eval):
`base` (built and warm-started: tool-call syntax on generic commands, no solution seen), `sft`,
`grpo`. Writes OUT/seed-N/{sft,grpo}/ (models, results.sqlite with train_steps, train_log.jsonl),
OUT/summary.json and OUT/reward.svg (bars with intervals). On a machine with a GPU, --device cuda
runs the same (TRL places the model; the evaluation moves it). The script prints figures; what
they mean is in the note it prints at the end, computed from them, not written in advance.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import agentgym  # noqa: E402
from agentgym.rl import tinymodel  # noqa: E402
from agentgym.rl.splits import split_of  # noqa: E402
from agentgym.rl.trl_env import environment_class, tool_schemas  # noqa: E402
from agentgym.rl.trl_eval import evaluate  # noqa: E402
from agentgym.rl.trl_grpo import GRPOSettings, train_grpo  # noqa: E402
from agentgym.rl.trl_log import read_train_steps  # noqa: E402
from agentgym.rl.trl_sft import SFTSettings, reference_conversations, train_sft  # noqa: E402

STAGES = ("base", "sft", "grpo")


def interval(xs: list[float]) -> dict[str, Any]:
    """Mean and a 95% t-interval over seeds (half-width 0 with one seed)."""
    t95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57}
    m = statistics.fmean(xs)
    half = t95.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else 0.0
    return {"mean": round(m, 3), "low": round(m - half, 3), "high": round(m + half, 3), "values": [round(x, 3) for x in xs]}


def split_tasks(env_id: str, kw: dict[str, Any]) -> tuple[list[str], list[str]]:
    with agentgym.make(env_id, **kw) as env:
        ids = list(env.unwrapped.task_ids())
        return [t for t in ids if split_of(env, t) == "train"], [t for t in ids if split_of(env, t) == "test"]


def build_tokenizer(convs: list[dict[str, Any]], shown: list[dict[str, Any]]):
    corpus = [tinymodel.chat_template(), json.dumps(shown)] + [json.dumps(c["messages"]) for c in convs]
    return tinymodel.build_tokenizer(corpus, vocab_size=1024)


def run_seed(seed: int, args: argparse.Namespace, tok: Any, convs: list[dict[str, Any]], shown: list[dict[str, Any]],
             train: list[str], test: list[str], kw: dict[str, Any], out: Path) -> dict[str, Any]:
    model = tinymodel.build_model(tok, hidden=args.hidden, layers=args.layers, heads=4, seed=seed)
    statements = [m["content"] for c in convs for m in c["messages"][:2] if m["role"] == "user"]
    tinymodel.warm_start(model, tok, statements, shown, steps=args.warm_steps, seed=seed)
    ev = {"max_turns": args.max_turns, "max_new_tokens": args.max_new_tokens, "tools": shown}
    res: dict[str, Any] = {"seed": seed, "reward": {}, "pass_rate": {}, "train_seconds": {}, "tokens": {},
                           "parameters": sum(p.numel() for p in model.parameters())}
    gen_tokens, gen_seconds = 0, 0.0

    def measure(stage: str) -> None:
        nonlocal gen_tokens, gen_seconds
        model.to("cpu")
        for name, tasks in (("train", train), ("test", test)):
            r = evaluate(model, tok, args.env, tasks, seeds=[seed], env_kwargs=kw, **ev) if tasks else None
            res["reward"][f"{stage}/{name}"] = r["reward"] if r else None
            res["pass_rate"][f"{stage}/{name}"] = r["pass_rate"] if r else None
            if r:
                gen_tokens += r["generated_tokens"]
                gen_seconds += r["seconds"]

    measure("base")
    t0 = time.perf_counter()
    sft = train_sft(model, tok, convs, out / f"seed-{seed}" / "sft",
                    SFTSettings(steps=args.sft_steps, learning_rate=args.sft_lr, batch_size=4, seed=seed), tools=shown)
    res["train_seconds"]["sft"] = time.perf_counter() - t0
    sft_rows = [r for r in read_train_steps(out / f"seed-{seed}" / "sft") if r.algorithm == "sft"]
    res["tokens"]["sft"] = max((r.tokens or 0) for r in sft_rows) if sft_rows else 0
    res["sft_loss"] = {"first": sft_rows[0].loss if sft_rows else None, "last": sft.final_loss}
    measure("sft")
    t0 = time.perf_counter()
    grpo = train_grpo(model, tok, args.env, train, out / f"seed-{seed}" / "grpo",
                      GRPOSettings(steps=args.grpo_steps, num_generations=args.num_generations, prompts_per_step=args.prompts_per_step,
                                   learning_rate=args.grpo_lr, temperature=args.temperature, max_turns=args.max_turns,
                                   max_completion_length=args.max_completion_length, seed=seed,
                                   format_reward=args.format_reward), env_kwargs=kw)
    res["train_seconds"]["grpo"] = time.perf_counter() - t0
    res["tokens"]["grpo"] = max((r.extra.get("num_tokens", 0) for r in grpo.rows), default=0)
    res["grpo_curve"] = [{"step": r.step, "reward": r.reward, "pass_rate": r.pass_rate, "mean_turns": r.mean_turns,
                          "tokens": r.tokens} for r in grpo.rows]
    measure("grpo")
    res["generated_tokens"], res["generation_seconds"] = gen_tokens, gen_seconds
    return res


def svg(summary: dict[str, Any]) -> str:
    """Bars of mean reward per stage and split, with the 95% interval as a line."""
    w, h, bar, gap, top = 560, 260, 36, 14, 30
    colors = {"train": "#4a78c2", "test": "#e08a3c"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 60}" font-family="sans-serif" font-size="12">',
             f'<text x="10" y="18">{summary["env"]}: reward by stage (mean of {len(summary["seeds"])} seeds, 95% interval)</text>',
             f'<line x1="40" y1="{top + h}" x2="{w - 10}" y2="{top + h}" stroke="#333"/>']
    x = 60
    for stage in STAGES:
        for split in ("train", "test"):
            iv = summary["reward"].get(f"{stage}/{split}")
            if iv:
                y = top + h - iv["mean"] * h
                parts.append(f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{iv["mean"] * h:.1f}" fill="{colors[split]}"/>')
                lo, hi = (top + h - max(0.0, iv["low"]) * h, top + h - min(1.0, iv["high"]) * h)
                parts.append(f'<line x1="{x + bar / 2}" y1="{lo:.1f}" x2="{x + bar / 2}" y2="{hi:.1f}" stroke="#000"/>')
                parts.append(f'<text x="{x}" y="{y - 4:.1f}">{iv["mean"]:.2f}</text>')
            x += bar + 4
        parts.append(f'<text x="{x - 2 * bar - 4}" y="{top + h + 16}">{stage}</text>')
        x += gap * 3
    parts.append(f'<text x="60" y="{top + h + 40}" fill="{colors["train"]}">train tasks</text>'
                 f'<text x="160" y="{top + h + 40}" fill="{colors["test"]}">held-out test tasks</text></svg>')
    return "\n".join(parts)


def note(summary: dict[str, Any]) -> str:
    r = summary["reward"]
    lines = []
    for split in ("train", "test"):
        if r.get(f"base/{split}") is None:
            lines.append(f"{split}: no tasks in this split")
            continue
        b, s, g = (r[f"{k}/{split}"]["mean"] for k in STAGES)
        lines.append(f"{split}: base {b:.2f} -> sft {s:.2f} -> grpo {g:.2f} (GRPO moved it {g - s:+.2f}, SFT {s - b:+.2f})")
    return "; ".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    ap.add_argument("--env", default="shell-fixture")
    ap.add_argument("--runtime", default="local")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("runs/train-demo"))
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--warm-steps", type=int, default=40)
    ap.add_argument("--sft-steps", type=int, default=150)
    ap.add_argument("--sft-lr", type=float, default=1e-2)
    ap.add_argument("--sft-repeats", type=int, default=3, help="reference episodes per train task (their statements differ: the sandbox's path)")
    ap.add_argument("--grpo-steps", type=int, default=8)
    ap.add_argument("--grpo-lr", type=float, default=2e-3)
    ap.add_argument("--num-generations", type=int, default=4)
    ap.add_argument("--prompts-per-step", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--format-reward", type=float, default=0.0, help="GRPO shaping reward for a parseable tool call (0: env reward only)")
    ap.add_argument("--max-turns", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=80)
    ap.add_argument("--max-completion-length", type=int, default=256)
    args = ap.parse_args()
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    t_start = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    kw = {"runtime": args.runtime}
    train, test = split_tasks(args.env, kw)
    convs = reference_conversations(args.env, train, env_kwargs=kw, max_turns=args.max_turns, repeats=args.sft_repeats)
    shown = tool_schemas(environment_class(args.env, env_kwargs=kw))  # the tools as GRPOTrainer renders them
    tok = build_tokenizer(convs, shown)
    runs = []
    for seed in args.seeds:
        runs.append(run_seed(seed, args, tok, convs, shown, train, test, kw, args.out))
        print(f"seed {seed}: reward {json.dumps({k: (round(v, 3) if v is not None else None) for k, v in runs[-1]['reward'].items()})}", flush=True)
    wall = time.perf_counter() - t_start
    summary: dict[str, Any] = {
        "env": args.env, "runtime": args.runtime, "seeds": args.seeds, "train_tasks": train, "test_tasks": test,
        "sft_rows_from": f"{len(convs)} passed reference episodes of the train split",
        "model": {"hidden": args.hidden, "layers": args.layers, "vocab": len(tok),
                  "parameters": runs[0]["parameters"]},
        "reward": {}, "pass_rate": {},
        "wall_seconds": round(wall, 1), "cpus": os.cpu_count(), "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    for key in runs[0]["reward"]:
        vals = [r["reward"][key] for r in runs]
        summary["reward"][key] = interval(vals) if None not in vals else None
        pvals = [r["pass_rate"][key] for r in runs]
        summary["pass_rate"][key] = interval(pvals) if None not in pvals else None
    train_s = sum(sum(r["train_seconds"].values()) for r in runs)
    train_tokens = sum(sum(r["tokens"].values()) for r in runs)
    summary["train_seconds"] = round(train_s, 1)
    summary["train_tokens_per_s"] = round(train_tokens / train_s, 1) if train_s else None
    summary["generation_tokens_per_s"] = round(sum(r["generated_tokens"] for r in runs) / max(1e-9, sum(r["generation_seconds"] for r in runs)), 1)
    summary["grpo_curves"] = {r["seed"]: r["grpo_curve"] for r in runs}
    summary["sft_loss"] = {r["seed"]: r["sft_loss"] for r in runs}
    summary["note"] = note(summary)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    (args.out / "reward.svg").write_text(svg(summary))
    print(f"{summary['note']}\nwall {wall:.0f} s; training {summary['train_tokens_per_s']} tokens/s; "
          f"generation {summary['generation_tokens_per_s']} tokens/s; plot {args.out / 'reward.svg'}")
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "grpo_curves"}))


if __name__ == "__main__":
    main()
