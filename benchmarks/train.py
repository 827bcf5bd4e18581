"""Training works here, on the CPU, with no hub: a tiny model built on this machine, SFT with TRL's
SFTTrainer on the reference policy's passed trajectories of the env's train split, then GRPO with
TRL's GRPOTrainer against the env itself; reward before and after on train tasks and on the
held-out test-split tasks, over 4 seeds (model init and training seed), with 95% intervals.

    python benchmarks/train.py                  # shell-fixture, local runtime, seeds 0 1 2 3
    python benchmarks/train.py --json           # last stdout line is one JSON object
    python benchmarks/train.py --seeds 0 --grpo-steps 4    # a quick look
    make train-demo

Stages evaluated (the chat format TRL trains in; agentgym.rl.trl_eval): `base` (built and
warm-started: tool-call syntax on generic commands, no solution seen), `sft`, `grpo`. Each stage
is measured two ways: `reward` is the mean env reward of --eval-samples episodes per task sampled
at temperature 1 (the policy GRPO samples from and improves: its expected reward), and
`reward_greedy` one greedy episode per task (greedy decoding of a model this small is all or
nothing per task). SFT is kept short on purpose (--sft-steps) so that the warm start is partly
right: GRPO's groups then hold both outcomes (an all-equal group has no gradient). GRPO keeps a
KL term to the SFT policy (--beta 0.05) and leaves completions cut at --max-completion-length
(192) out of the loss (--mask-truncated): without them one seed of 3 collapsed (completions grew
until no tool call parsed, every group all-0, no gradient left). Each GRPO step holds a group of
every train task (--prompts-per-step 6 x --num-generations 8): with 2 tasks a step, tasks went
unvisited for several steps, GRPO's change per seed was +0.22, +0.09, -0.07, and the tasks not
drawn drifted.

Settings that differ from the env's defaults, printed in the note: the shell-fixture statement
leaves out the sandbox's absolute path (`show_workdir=False`: on the local runtime it is a fresh
temporary path per sandbox, noise a model this small cannot learn to ignore from a few examples;
tools, tasks and grading are unchanged). Writes OUT/seed-N/{sft,grpo}/ (models, results.sqlite
with train_steps, train_log.jsonl), OUT/summary.json and OUT/reward.svg (bars with intervals). The
run is on the CPU unless --device cuda (or auto) is given; `--preset gpu` sizes it for one GPU (a
bigger model, more steps, rollouts and samples; flags given explicitly still win), and
scripts/gpu_train_demo.sh runs it on a machine with no internet. The script prints figures; what they mean is in the note it prints at the end, computed from
them, not written in advance.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import agentgym  # noqa: E402
from agentgym.rl import tinymodel  # noqa: E402
from agentgym.rl.device import DeviceError, gpu_name, resolve_device  # noqa: E402
from agentgym.rl.splits import split_of  # noqa: E402
from agentgym.rl.trl_env import environment_class, tool_schemas  # noqa: E402
from agentgym.rl.trl_eval import evaluate  # noqa: E402
from agentgym.rl.trl_grpo import GRPOSettings, train_grpo  # noqa: E402
from agentgym.rl.trl_log import read_train_steps  # noqa: E402
from agentgym.rl.trl_sft import SFTSettings, reference_conversations, train_sft  # noqa: E402
from agentgym.staging import staged_dir  # noqa: E402

STAGES = ("base", "sft", "grpo")
# --preset gpu: sized for one H100 (estimated, not yet measured on one: the env's tool calls run on the CPU
# either way; time one seed first); every flag given on the command line overrides it
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {},
    "gpu": {"device": "cuda", "threads": 4, "hidden": 256, "layers": 4, "warm_steps": 80, "sft_steps": 300, "sft_lr": 3e-3,
            "grpo_steps": 20, "grpo_lr": 1e-3, "num_generations": 8, "prompts_per_step": 6, "eval_samples": 16},
}


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
    t_seed = time.perf_counter()
    model = tinymodel.build_model(tok, hidden=args.hidden, layers=args.layers, heads=4, seed=seed).to(args.device)
    statements = [m["content"] for c in convs for m in c["messages"][:2] if m["role"] == "user"]
    tinymodel.warm_start(model, tok, statements, shown, steps=args.warm_steps, seed=seed)
    ev = {"max_turns": args.max_turns, "max_new_tokens": args.max_new_tokens, "tools": shown}
    res: dict[str, Any] = {"seed": seed, "reward": {}, "pass_rate": {}, "reward_greedy": {}, "per_task": {},
                           "train_seconds": {}, "tokens": {}, "parameters": sum(p.numel() for p in model.parameters())}
    gen_tokens, gen_seconds = 0, 0.0

    def measure(stage: str) -> None:
        nonlocal gen_tokens, gen_seconds
        model.to(args.device)  # where the trainer left it: generation runs on the training device
        for name, tasks in (("train", train), ("test", test)):
            if not tasks:
                res["reward"][f"{stage}/{name}"] = res["pass_rate"][f"{stage}/{name}"] = res["reward_greedy"][f"{stage}/{name}"] = None
                continue
            r = evaluate(model, tok, args.env, tasks, seeds=[seed], env_kwargs=kw, samples=args.eval_samples,
                         temperature=1.0, **ev)
            g = evaluate(model, tok, args.env, tasks, seeds=[seed], env_kwargs=kw, **ev)
            res["reward"][f"{stage}/{name}"], res["pass_rate"][f"{stage}/{name}"] = r["reward"], r["pass_rate"]
            res["reward_greedy"][f"{stage}/{name}"] = g["reward"]
            per: dict[str, list[float]] = {}
            for e in r["episodes"]:
                per.setdefault(e["task_id"], []).append(e["reward"])
            res["per_task"][f"{stage}/{name}"] = {t: round(statistics.fmean(v), 3) for t, v in per.items()}
            gen_tokens += r["generated_tokens"] + g["generated_tokens"]
            gen_seconds += r["seconds"] + g["seconds"]

    measure("base")
    t0 = time.perf_counter()
    sft = train_sft(model, tok, convs, out / f"seed-{seed}" / "sft",
                    SFTSettings(steps=args.sft_steps, learning_rate=args.sft_lr, batch_size=4, seed=seed,
                                device=args.device, bf16=args.bf16), tools=shown)
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
                                   format_reward=args.format_reward, beta=args.beta, loss_type=args.loss_type,
                                   mask_truncated_completions=args.mask_truncated, device=args.device, bf16=args.bf16), env_kwargs=kw)
    res["train_seconds"]["grpo"] = time.perf_counter() - t0
    res["tokens"]["grpo"] = max((r.extra.get("num_tokens", 0) for r in grpo.rows), default=0)
    res["grpo_curve"] = [{"step": r.step, "reward": r.reward, "pass_rate": r.pass_rate, "mean_turns": r.mean_turns,
                          "tokens": r.tokens, "all_equal_groups": r.extra.get("frac_reward_zero_std")} for r in grpo.rows]
    measure("grpo")
    res["generated_tokens"], res["generation_seconds"] = gen_tokens, gen_seconds
    res["seconds"] = round(time.perf_counter() - t_seed, 1)
    return res


def svg(summary: dict[str, Any]) -> str:
    """Bars of mean reward per stage and split, with the 95% interval as a line, a y axis and the
    legend inside the picture."""
    w, h, bar, gap, top, left = 560, 260, 36, 14, 30, 60
    colors = {"train": "#4a78c2", "test": "#e08a3c"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{top + h + 60}" font-family="sans-serif" font-size="12">',
             f'<text x="10" y="18">{summary["env"]}: sampled reward by stage (T=1, mean of {len(summary["seeds"])} seeds, 95% interval)</text>',
             f'<line x1="{left - 10}" y1="{top + h}" x2="{w - 10}" y2="{top + h}" stroke="#333"/>',
             f'<line x1="{left - 10}" y1="{top}" x2="{left - 10}" y2="{top + h}" stroke="#333"/>']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + h - tick * h
        parts.append(f'<line x1="{left - 14}" y1="{y:.1f}" x2="{left - 10}" y2="{y:.1f}" stroke="#333"/>'
                     f'<text x="{left - 42}" y="{y + 4:.1f}">{tick:.2f}</text>')
    x = left
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
    parts.append(f'<rect x="{left}" y="{top + h + 30}" width="10" height="10" fill="{colors["train"]}"/>'
                 f'<text x="{left + 14}" y="{top + h + 40}">train tasks</text>'
                 f'<rect x="{left + 110}" y="{top + h + 30}" width="10" height="10" fill="{colors["test"]}"/>'
                 f'<text x="{left + 124}" y="{top + h + 40}">held-out test tasks</text></svg>')
    return "\n".join(parts)


def note(summary: dict[str, Any]) -> str:
    """What moved, from the figures: per split sampled and greedy reward by stage, and GRPO's change
    on each split as the 95% interval of the per-seed differences (grpo - sft)."""
    r, g = summary["reward"], summary["reward_greedy"]
    lines = []
    for split in ("train", "test"):
        if any(r.get(f"{k}/{split}") is None or g.get(f"{k}/{split}") is None for k in STAGES):
            lines.append(f"{split}: no tasks in this split, or a stage with no scored episode (infrastructure errors)")
            continue
        b, s, f = (r[f"{k}/{split}"]["mean"] for k in STAGES)
        gb, gs, gf = (g[f"{k}/{split}"]["mean"] for k in STAGES)
        diff = r[f"grpo-sft/{split}"]
        if len(diff["values"]) > 1:
            verdict = "rose" if diff["low"] > 0 else "fell" if diff["high"] < 0 else "did not move beyond noise"
            change = f"{diff['mean']:+.2f} [{diff['low']:+.2f}, {diff['high']:+.2f}] over seeds (per seed {', '.join(f'{v:+.2f}' for v in diff['values'])})"
        else:
            verdict = ("rose" if diff["mean"] > 0 else "fell" if diff["mean"] < 0 else "did not move") + " (one seed: no interval)"
            change = f"{diff['mean']:+.2f}"
        lines.append(f"{split}: sampled reward base {b:.2f} -> sft {s:.2f} -> grpo {f:.2f}; GRPO {verdict}: {change}; "
                     f"greedy base {gb:.2f} -> sft {gs:.2f} -> grpo {gf:.2f}")
    lines.append(f"settings: {summary['settings_note']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    ap.add_argument("--env", default="shell-fixture")
    ap.add_argument("--runtime", default="local")
    ap.add_argument("--show-workdir", action="store_true", help="shell-fixture: keep the sandbox's absolute path in the statement")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3], help="model init and training seeds (4: the most that fit 20 minutes on 2 cores; with 3 the 95%% t-interval of GRPO's change is 4.3 standard errors wide each side, with 4 3.2)")
    ap.add_argument("--out", type=Path, default=Path("runs/train-demo"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: a model this small gains nothing from more, "
                    "and on a loaded machine 2 threads ran 10x slower than 1)")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--warm-steps", type=int, default=40)
    ap.add_argument("--sft-steps", type=int, default=150)
    ap.add_argument("--sft-lr", type=float, default=1e-2)
    ap.add_argument("--sft-repeats", type=int, default=1, help="reference episodes per train task")
    ap.add_argument("--grpo-steps", type=int, default=12)
    ap.add_argument("--grpo-lr", type=float, default=2e-3)
    ap.add_argument("--num-generations", type=int, default=8)
    ap.add_argument("--prompts-per-step", type=int, default=6, help="tasks per GRPO step (6: every train task of shell-fixture in every step; with 2, tasks went unvisited for steps and one seed of 3 fell)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--format-reward", type=float, default=0.0, help="GRPO shaping reward for a parseable tool call (0: env reward only)")
    ap.add_argument("--beta", type=float, default=0.05, help="GRPO KL coefficient toward the SFT policy (0: none; "
                    "with 0 one seed of 3 collapsed: completions grew until no tool call parsed)")
    ap.add_argument("--loss-type", default="dapo", choices=["dapo", "grpo", "dr_grpo", "bnpo"], help="TRL's GRPO loss normalisation")
    ap.add_argument("--mask-truncated", action=argparse.BooleanOptionalAction, default=True,
                    help="GRPO: leave completions cut at --max-completion-length out of the loss (runaway completions get no gradient)")
    ap.add_argument("--eval-samples", type=int, default=16, help="sampled episodes per task (temperature 1) for `reward`")
    ap.add_argument("--max-turns", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=80)
    ap.add_argument("--max-completion-length", type=int, default=192)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="cpu: the defaults above; gpu: sized for one "
                    "GPU (" + ", ".join(f"{k}={v}" for k, v in PRESETS["gpu"].items()) + "); explicit flags override it")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu", help="where models train and generate "
                    "(auto: the GPU when torch sees one)")
    ap.add_argument("--bf16", action="store_true", help="bf16 mixed precision in SFT and GRPO, on a GPU that supports it")
    ap.set_defaults(**PRESETS[ap.parse_known_args()[0].preset])
    args = ap.parse_args()
    try:
        args.device = resolve_device(args.device)  # cpu or cuda from here on
    except DeviceError as exc:
        ap.error(str(exc))
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch

    torch.set_num_threads(max(1, args.threads))
    t_start = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    kw: dict[str, Any] = {"runtime": args.runtime}
    settings = [f"{args.env} on the {args.runtime} runtime", "env reward only" if not args.format_reward else
                f"GRPO adds a format reward x{args.format_reward} (logged apart)"]
    if args.env == "shell-fixture" and not args.show_workdir:
        kw["show_workdir"] = False
        settings.append("statement without the sandbox's absolute path (show_workdir=False; tools and grading unchanged)")
    settings.append(f"reward = mean of {args.eval_samples} episodes per task at T=1; greedy apart; "
                    f"SFT {args.sft_steps} steps, GRPO {args.grpo_steps} steps x {args.prompts_per_step} tasks x {args.num_generations} rollouts, "
                    f"lr {args.grpo_lr}, beta {args.beta}, loss {args.loss_type}, max completion {args.max_completion_length}"
                    + (" (truncated masked)" if args.mask_truncated else ""))
    if args.preset != "cpu" or args.device != "cpu":
        settings.append(f"preset {args.preset} on {args.device}" + (f" ({gpu_name()})" if args.device == "cuda" else "")
                        + f", model hidden {args.hidden} x {args.layers} layers" + (", bf16" if args.bf16 else ""))
    if args.out.exists() and not args.out.is_dir() or args.out.is_dir() and any(args.out.iterdir()) and not (
            (args.out / "summary.json").exists() or any(args.out.glob("seed-*"))):
        ap.error(f"--out {args.out} exists and is not an earlier run of this script; give a new folder")
    try:
        with staged_dir(args.out) as out:  # nothing lands in OUT until every seed is done and summarised
            summary = run(args, kw, settings, load_before, t_start, out)
            if args.out.exists():
                shutil.rmtree(args.out)  # an earlier run of this script, replaced only now that this one is whole
    except KeyboardInterrupt:
        print(f"interrupted: {args.out} is left as it was (this run's staging folder is removed); rerun: "
              f"{' '.join(shlex.quote(a) for a in [sys.executable, *sys.argv])}", file=sys.stderr)
        sys.exit(130)
    print(f"{summary['note']}\nwall {summary['wall_seconds']:.0f} s (per seed {', '.join(f'{x:.0f}' for x in summary['seed_seconds'])} s; load "
          f"{load_before[0]} -> {summary['load_after'][0]} on {summary['cpus']} CPUs); training {summary['train_tokens_per_s']} tokens/s; "
          f"generation {summary['generation_tokens_per_s']} tokens/s; plot {args.out / 'reward.svg'}")
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k not in ("grpo_curves", "per_task")}))


def run(args: argparse.Namespace, kw: dict[str, Any], settings: list[str], load_before: list[float], t_start: float,
        out: Path) -> dict[str, Any]:
    """Every seed, then summary.json and reward.svg, into ``out`` (the staging folder)."""
    train, test = split_tasks(args.env, kw)
    convs = reference_conversations(args.env, train, env_kwargs=kw, max_turns=args.max_turns, repeats=args.sft_repeats)
    shown = tool_schemas(environment_class(args.env, env_kwargs=kw))  # the tools as GRPOTrainer renders them
    tok = build_tokenizer(convs, shown)
    runs = []
    for seed in args.seeds:
        runs.append(run_seed(seed, args, tok, convs, shown, train, test, kw, out))
        print(f"seed {seed} ({runs[-1]['seconds']:.0f} s): sampled reward {json.dumps({k: (round(v, 3) if v is not None else None) for k, v in runs[-1]['reward'].items()})}; "
              f"greedy {json.dumps({k: (round(v, 3) if v is not None else None) for k, v in runs[-1]['reward_greedy'].items()})}", flush=True)
    wall = time.perf_counter() - t_start
    summary: dict[str, Any] = {
        "env": args.env, "runtime": args.runtime, "env_kwargs": kw, "seeds": args.seeds, "train_tasks": train, "test_tasks": test,
        "sft_rows_from": f"{len(convs)} passed reference episodes of the train split",
        "model": {"hidden": args.hidden, "layers": args.layers, "vocab": len(tok),
                  "parameters": runs[0]["parameters"]},
        "reward": {}, "reward_greedy": {}, "pass_rate": {},
        "wall_seconds": round(wall, 1), "seed_seconds": [r["seconds"] for r in runs], "cpus": os.cpu_count(),
        "torch_threads": args.threads, "preset": args.preset, "device": args.device, "gpu": gpu_name() if args.device == "cuda" else None,
        "bf16": args.bf16, "load_before": load_before, "load_after": [round(x, 2) for x in os.getloadavg()],
        "settings_note": "; ".join(settings),
    }
    for key in runs[0]["reward"]:
        for field in ("reward", "reward_greedy", "pass_rate"):
            vals = [r[field][key] for r in runs]
            summary[field][key] = interval(vals) if None not in vals else None
    for split in ("train", "test"):
        if summary["reward"].get(f"sft/{split}") is not None and summary["reward"].get(f"grpo/{split}") is not None:
            summary["reward"][f"grpo-sft/{split}"] = interval([r["reward"][f"grpo/{split}"] - r["reward"][f"sft/{split}"] for r in runs])
    train_s = sum(sum(r["train_seconds"].values()) for r in runs)
    train_tokens = sum(sum(r["tokens"].values()) for r in runs)
    summary["train_seconds"] = round(train_s, 1)
    summary["train_tokens_per_s"] = round(train_tokens / train_s, 1) if train_s else None
    summary["generation_tokens_per_s"] = round(sum(r["generated_tokens"] for r in runs) / max(1e-9, sum(r["generation_seconds"] for r in runs)), 1)
    summary["per_task"] = {r["seed"]: r["per_task"] for r in runs}
    summary["grpo_curves"] = {r["seed"]: r["grpo_curve"] for r in runs}
    summary["sft_loss"] = {r["seed"]: r["sft_loss"] for r in runs}
    summary["note"] = note(summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "reward.svg").write_text(svg(summary))
    return summary


if __name__ == "__main__":
    main()
