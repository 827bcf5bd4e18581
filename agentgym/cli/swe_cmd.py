"""`agentgym swe evaluate`: SWE-bench's predictions in, SWE-bench's report JSON out.

The work is the SWE domain's (agentgym.envs.swe.evaluate), imported by name when the command runs,
so the core stays free of domain imports.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

swe_app = typer.Typer(help="SWE-bench compatibility: evaluate predictions files like SWE-bench's harness.",
                      no_args_is_help=True)


from agentgym.cli.app import _env_args  # noqa: E402 - the same --env-arg parsing as every other command
from agentgym.cli.boundary import fail as _fail  # noqa: E402 - one line on stderr, exit 2


def _open_env(dataset: str, runtime: str, kwargs: dict[str, Any]) -> Any:
    """--dataset: a registered SWE env id, else a SWE-bench-format file (or a hub name) for swe-verified."""
    import agentgym

    try:
        env_id = agentgym.env_info(dataset).id
    except agentgym.UnknownEnvError:
        if not Path(dataset).expanduser().is_file() and "/" not in dataset:
            _fail(f"--dataset {dataset}: neither a SWE-bench-format file (.jsonl/.json/.parquet) nor a registered env "
                  "(swe-verified, swe-synth, swe-synth-lite, or a plugin's)")
        env_id, kwargs = "swe-verified", {**kwargs, "dataset": str(Path(dataset).expanduser()) if Path(dataset).expanduser().is_file() else dataset}
    try:
        env = agentgym.make(env_id, runtime=runtime, **kwargs)
    except (TypeError, ValueError, RuntimeError, OSError) as exc:
        _fail(f"--dataset {dataset}: {exc}")
    if not hasattr(env, "instances") or not hasattr(env, "_spec_for"):
        env.close()
        _fail(f"--dataset {dataset}: env {env_id} is not a SWE env (its tasks have no SWE-bench instances)")
    return env


def evaluate_cmd(
    predictions: Annotated[str, typer.Argument(help="SWE-bench predictions: .jsonl, .json (list or {id: prediction}), "
                                               "or `gold` for every instance's gold patch")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="a SWE-bench-format file (.jsonl/.json/.parquet) or a "
                                         "registered SWE env id (swe-synth-lite, swe-verified, ...)")],
    runtime: Annotated[str, typer.Option("--runtime", "-r", help="docker, local, or auto")] = "auto",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="report JSON (default: <model>.<run-id>.json, as SWE-bench)")] = None,
    run_id: Annotated[str, typer.Option("--run-id", help="names the report and the log folders")] = "agentgym",
    instance_ids: Annotated[Optional[str], typer.Option("--instance-ids", help="comma-separated: evaluate only these")] = None,
    max_workers: Annotated[int, typer.Option("--max-workers", min=1, help="instances graded at once")] = 1,
    log_dir: Annotated[Optional[Path], typer.Option("--log-dir", help="write LOG_DIR/RUN_ID/MODEL/ID/report.json as each "
                                                     "is graded (SWE-bench's layout); a rerun reuses them (same patch)")] = None,
    env_arg: Annotated[Optional[list[str]], typer.Option("--env-arg", "-e", help="KEY=VALUE for the env "
                                                         "(repo_source=PATH, image_source=official, ...)")] = None,
) -> None:
    """Grade each prediction in a fresh sandbox with agentgym's hardened grader; write SWE-bench's report JSON."""
    ev = importlib.import_module("agentgym.envs.swe.evaluate")
    env = _open_env(dataset, runtime, _env_args(env_arg))
    try:
        instances = list(env.instances.values())
        if instance_ids:
            wanted = [i.strip() for i in instance_ids.split(",") if i.strip()]
            missing = [i for i in wanted if i not in env.instances]
            if missing:
                _fail(f"--instance-ids: not in the dataset: {', '.join(missing[:5])}")
            instances = [env.instances[i] for i in wanted]
        try:
            if predictions == "gold" and not Path(predictions).exists():
                preds, twice = ev.gold_predictions(list(env.instances.values())), []  # all, as swebench's `gold`
            else:
                preds, twice = ev.load_predictions(predictions)
                ev.check_ids(env.instances, preds)
            if twice:
                typer.echo(f"warning: {len(twice)} instance id(s) given more than once, the last counts: "
                           f"{', '.join(sorted(set(twice))[:5])}", err=True)
            if not {i.instance_id for i in instances} & set(preds):
                _fail("no predictions for the selected instances")
            spare = [env]  # the first worker grades with the env made above; more workers make their own

            def make_env() -> Any:
                return spare.pop() if spare else _open_env(dataset, runtime, _env_args(env_arg))

            grader, close = ev.env_grader(make_env)
            chosen = {i.instance_id: preds[i.instance_id] for i in instances if i.instance_id in preds}
            done = ev.read_instance_logs(log_dir, run_id, chosen) if log_dir is not None else {}
            if done:
                typer.echo(f"reusing {len(done)} instance reports in {log_dir / run_id} (same patch; delete them to "
                           "grade again)", err=True)
            typer.echo(f"grading {sum(1 for p in chosen.values() if p.model_patch) - len(done)} of {len(chosen)} "
                       f"predictions ({env.runtime} runtime)", err=True)
            write = (lambda iid, entry: ev.write_instance_log(log_dir, run_id, preds[iid], entry)) if log_dir else None
            try:
                report = ev.evaluate(instances, preds, grader, max_workers=max_workers, done=done, on_report=write,
                                     on_result=lambda iid, outcome: typer.echo(f"{iid}: {outcome}", err=True))
            finally:
                close()
        except ev.PredictionsError as exc:
            _fail(str(exc))
    finally:
        env.close()
    path = out or ev.default_report_path(preds, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=4) + "\n")
    for label, key in (("Total instances", "total_instances"), ("Instances submitted", "submitted_instances"),
                       ("Instances completed", "completed_instances"), ("Instances resolved", "resolved_instances"),
                       ("Instances unresolved", "unresolved_instances"), ("Instances with empty patches", "empty_patch_instances"),
                       ("Instances with errors", "error_instances")):
        typer.echo(f"{label}: {report[key]}")
    typer.echo(f"Report written to {path}")


def register(app: typer.Typer) -> None:
    swe_app.command("evaluate")(evaluate_cmd)
    app.add_typer(swe_app, name="swe")
