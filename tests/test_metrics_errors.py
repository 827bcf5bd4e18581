"""Infrastructure errors are neither passes nor failures: out of pass@k's n, counted apart, in
metrics, the sweep's table and `validate`."""

from __future__ import annotations

import pytest

from agentgym import validate as validate_mod
from agentgym.metrics import pass_at_k_estimate, pass_hat_k_estimate, task_outcomes
from agentgym.rollout import Trajectory
from agentgym.sweep.table import config_rows


def test_errored_samples_leave_n_and_are_counted():
    results = {"a": [True, None, False], "b": [None, None, True, True]}
    est = pass_at_k_estimate(results, 1, n_boot=200)
    assert est.mean == pytest.approx((1 / 2 + 1) / 2), "errors counted as failures would give (1/3 + 2/4) / 2"
    assert (est.errors, est.tasks_dropped, est.n_tasks) == (3, 0, 2)
    hat = pass_hat_k_estimate(results, 2, n_boot=200)
    assert hat.mean == pytest.approx((0 + 1) / 2) and hat.errors == 3


def test_a_task_that_errors_leave_short_of_k_is_dropped_and_said():
    est = pass_at_k_estimate({"a": [True, None], "b": [True, False]}, 2, n_boot=200)
    assert (est.n_tasks, est.tasks_dropped, est.mean) == (1, 1, 1.0)
    with pytest.raises(ValueError, match="needs at least k samples"):  # too few samples in all: the caller's mistake
        pass_at_k_estimate({"a": [True]}, 2)
    with pytest.raises(ValueError, match="--retry-errors"):
        pass_at_k_estimate({"a": [None, None], "b": [None]}, 1)


def _ep(task, passed, err, cfg="c"):
    return {"config_id": cfg, "task_id": task, "passed": passed, "infra_error": err, "turns": 2, "cost": 0.5}


def test_table_rows_show_errors_apart_and_all_errored_rows_have_no_score():
    eps = [_ep("t1", True, False), _ep("t1", False, True), _ep("t2", False, False), _ep("t2", False, True),
           _ep("t1", False, True, cfg="dead"), _ep("t2", False, True, cfg="dead")]
    assert task_outcomes(eps[:4]) == {"t1": [True, None], "t2": [False, None]}
    cfgs = [{"config_id": c, "env": "e", "agent": "a", "model": "-", "budget": "default"} for c in ("c", "dead")]
    row, dead = config_rows(cfgs, eps, n_boot=200)
    assert (row.passed, row.failed, row.errors, row.k) == (1, 1, 2, 1)
    assert row.pass1.mean == 0.5 and row.mean_turns == 2 and row.mean_cost == 0.5
    assert (dead.passed, dead.failed, dead.errors, dead.pass1, dead.k) == (0, 0, 2, None, 0), "no 0.000 for a dead server"



def test_table_prints_labels_as_text():
    """Labels, model names and budgets are the user's text: rich read '[exp1] react' as markup
    (the brackets vanished) and '[bold]m' as a style."""
    from rich.console import Console

    from agentgym.sweep.table import rich_table

    cfgs = [{"config_id": "c", "env": "e[1]", "agent": "[exp1] react", "model": "[bold]m", "budget": "[/]b"}]
    console = Console(width=300, record=True, color_system=None)
    console.print(rich_table(config_rows(cfgs, [_ep("t1", True, False)], n_boot=10)))
    text = console.export_text()
    assert all(s in text for s in ("e[1]", "[exp1] react", "[bold]m", "[/]b")), text

def test_validate_scores_only_the_tasks_that_ran_cleanly(monkeypatch):
    import agentgym

    def play(env, task_id, which):
        traj = Trajectory(env_id="shell-fixture", task_id=task_id, seed=None, first_observation="")
        if task_id == "count-lines":
            traj.error = "sandbox died"
        else:
            traj.passed = which == "gold"
        return traj

    monkeypatch.setattr(validate_mod, "_play", play)
    with agentgym.make("shell-fixture", runtime="local") as env:
        ids = list(env.task_ids())[:3]
    report = validate_mod.validate("shell-fixture", task_ids=ids, runtime="local")
    assert (report.tasks, report.errors, report.gold_pass_rate, report.null_pass_rate) == (3, 1, 1.0, 0.0)
    assert not report.ok(), "an errored task still fails validation (exit 1), as an error, not as a gold failure"
    monkeypatch.setattr(validate_mod, "_play", lambda env, t, w: Trajectory(env_id="x", task_id=t, seed=None,
                                                                             first_observation="", error="engine gone"))
    report = validate_mod.validate("shell-fixture", task_ids=ids, runtime="local")
    assert (report.errors, report.gold_pass_rate, report.null_pass_rate) == (3, None, None)


def test_selection_never_picks_an_errored_sample():
    from agentgym.metrics import Sample, selected_accuracy
    from agentgym.select import sample_from_trajectory

    first = lambda subset, rng: 0  # noqa: E731 - picks the first sample it is offered
    rows = {"a": [Sample(passed=False, error=True), Sample(passed=True), Sample(passed=True)]}
    assert selected_accuracy(rows, 1, first, n_subsets=20).mean == 1.0, "errors counted as failures would give ~2/3"
    with pytest.raises(ValueError, match="--retry-errors"):
        selected_accuracy({"a": [Sample(passed=True, error=True)]}, 1, first)
    traj = Trajectory(env_id="e", task_id="t", seed=None, first_observation="", error="engine gone")
    assert sample_from_trajectory(traj).error is True
