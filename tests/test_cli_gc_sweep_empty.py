"""`agentgym gc --sweep` that finds nothing says why (only Ray sweeps label their resources; a local
sweep's sandboxes are removed by their owner), and `gc --help` says --sweep is for Ray sweeps. The
reaper is stubbed: no Docker."""

from __future__ import annotations

from typer.testing import CliRunner

from agentgym.cli.app import app


def test_an_empty_sweep_gc_says_why(monkeypatch):
    import agentgym.sandbox.reaper as reaper

    seen = {}

    def fake_gc(**kw):
        seen.update(kw)
        return reaper.GcReport(dry_run=kw.get("dry_run", False))

    monkeypatch.setattr(reaper, "gc", fake_gc)
    res = CliRunner().invoke(app, ["gc", "--sweep", "0123456789abcdef", "--dry-run"])
    assert res.exit_code == 0 and seen["where"] == {"agentgym.sweep": "0123456789abcdef"}
    assert "nothing here is labelled agentgym.sweep=0123456789abcdef" in res.stdout and "only Ray sweeps" in res.stdout
    res = CliRunner().invoke(app, ["gc", "--dry-run"])
    assert res.exit_code == 0 and "only Ray sweeps" not in res.stdout  # a plain gc finding nothing is no puzzle
    assert "Ray sweeps" in " ".join(CliRunner().invoke(app, ["gc", "--help"]).stdout.split())
