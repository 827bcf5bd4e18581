"""Price tables from config: loading, validation messages, and unified cost by hand."""

import json

import pytest
import yaml

from agentgym.budget import Usage
from agentgym.models import PriceTable
from agentgym.report import write_report
from agentgym.sweep import Store, SweepConfig, run_sweep

TABLE = {
    "version": "test-prices-3",
    "date": "2026-11-01",
    "currency": "EUR",
    "tokens": {"input_per_mtok": 1.0, "output_per_mtok": 1.0},
    "models": {"m1": {"input_per_mtok": 2.0, "cached_input_per_mtok": 0.5, "output_per_mtok": 8.0}},
    "tool_calls": {"bash": 0.01, "submit": 0.0},
    "default_tool_call": 0.001,
    "sandbox_second": 0.004,
}


def write(tmp_path, data, name="prices.yaml"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else yaml.safe_dump(data))
    return path


def test_shipped_default_loads_with_every_kind_of_price():
    t = PriceTable.load("default")
    assert "default" in PriceTable.shipped()
    assert t.version and t.date and t.currency == "USD"
    assert t.models and all(p.cached_input_per_mtok is not None for p in t.models.values())
    assert t.tokens.cached_input_per_mtok < t.tokens.input_per_mtok
    assert t.tool_calls and t.sandbox_second > 0
    assert t.unified_cost(Usage(input_tokens=1000, tool_calls={"bash": 1}), sandbox_seconds=1.0) > 0


def test_from_file_yaml_and_json_and_load_by_path(tmp_path):
    y, j = write(tmp_path, TABLE), write(tmp_path, TABLE, "prices.json")
    a, b, c = PriceTable.from_file(y), PriceTable.from_file(j), PriceTable.load(str(y))
    assert a == b == c and a.version == "test-prices-3" and a.models["m1"].output_per_mtok == 8.0


def test_unified_cost_from_a_loaded_table_equals_the_hand_computed_value(tmp_path):
    t = PriceTable.from_file(write(tmp_path, TABLE))
    usage = Usage(input_tokens=12_000, cached_input_tokens=4_000, output_tokens=3_000,
                  tool_calls={"bash": 3, "submit": 1, "_malformed": 2})
    hand = (8_000 * 2.0 + 4_000 * 0.5 + 3_000 * 8.0) / 1e6 + 3 * 0.01 + 0 + 2 * 0.001 + 2.5 * 0.004
    assert t.unified_cost(usage, sandbox_seconds=2.5, model="m1") == pytest.approx(hand)
    assert hand == pytest.approx(0.084)
    # an unlisted model is charged the `tokens` prices (cached input at the input price when unset)
    unlisted = (12_000 * 1.0 + 3_000 * 1.0) / 1e6 + 3 * 0.01 + 2 * 0.001 + 2.5 * 0.004
    assert t.unified_cost(usage.model_dump(), sandbox_seconds=2.5, model="other") == pytest.approx(unlisted)
    assert sum(t.breakdown(usage, 2.5, "m1").values()) == pytest.approx(hand)


@pytest.mark.parametrize(("data", "match"), [
    ({**TABLE, "version": ""}, "must set `version`"),
    ({k: v for k, v in TABLE.items() if k != "version"}, "must set `version`"),
    ({**TABLE, "sandbox_seconds": 1.0}, "sandbox_seconds"),
    ({**TABLE, "tool_calls": {"bash": -1.0}}, r"negative: tool_calls.bash=-1.0"),
    ({**TABLE, "models": {"m1": {"input_per_mtok": -2.0}}}, r"models.m1.input_per_mtok=-2.0"),
    ({**TABLE, "models": {"m1": {"input": 2.0}}}, "models.m1.input"),
    ({**TABLE, "sandbox_second": "cheap"}, "sandbox_second"),
])
def test_invalid_tables_say_what_is_wrong_and_where(tmp_path, data, match):
    path = write(tmp_path, data)
    with pytest.raises(ValueError, match=match) as exc:
        PriceTable.from_file(path)
    assert str(path) in str(exc.value)


def test_bad_files_and_names(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found.*default"):
        PriceTable.from_file(tmp_path / "nope.yaml")
    with pytest.raises(FileNotFoundError):
        PriceTable.load(str(tmp_path / "nope.yaml"))
    with pytest.raises(ValueError, match="no price table named 'nope'; shipped: default"):
        PriceTable.load("nope")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="is a mapping"):
        PriceTable.from_file(tmp_path / "list.yaml")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        PriceTable.from_file(tmp_path / "bad.json")
    (tmp_path / "bad.yaml").write_text("version: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        PriceTable.from_file(tmp_path / "bad.yaml")


def test_sweep_costs_come_from_the_named_table_and_its_version_is_recorded(tmp_path):
    write(tmp_path, TABLE)
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump({"name": "priced", "envs": [{"id": "shell-fixture", "max_tasks": 2}],
                                        "agents": ["oracle"], "k": 1, "runtime": "local", "prices": "prices.yaml"}))
    cfg = SweepConfig.from_yaml(cfg_path)  # relative to the config's folder
    assert cfg.price_table().version == "test-prices-3"
    out = tmp_path / "run"
    run_sweep(cfg, out=out, progress=False)
    store = Store.open_existing(out)
    try:
        assert store.meta("prices")["version"] == "test-prices-3" and store.meta("prices")["currency"] == "EUR"
        rows = list(store.episodes(with_trajectory=True))
    finally:
        store.close()
    assert len(rows) == 2
    for r in rows:
        traj = r["trajectory"]
        calls = traj["steps"][-1]["info"]["usage"]["tool_calls"]
        hand = sum(n * TABLE["tool_calls"].get(name, TABLE["default_tool_call"]) for name, n in calls.items())
        hand += traj["seconds"] * TABLE["sandbox_second"]
        assert r["cost"] == pytest.approx(hand) and r["cost"] > 0
    with pytest.warns(RuntimeWarning, match="test-prices-3.*default-placeholder"):  # resuming with other prices says so
        run_sweep(cfg.model_copy(update={"prices": "default"}), out=out, progress=False)
    html = write_report(out).read_text()
    assert "agentgym-default-placeholder-1" in html  # the table of the latest run
    # a config naming a table that does not load fails at load time, saying so
    cfg_path.write_text(yaml.safe_dump({"name": "x", "envs": ["shell-fixture"], "agents": ["oracle"], "prices": "nope"}))
    with pytest.raises(ValueError, match="prices: no price table named 'nope'"):
        SweepConfig.from_yaml(cfg_path)
    assert SweepConfig.model_validate({"name": "x", "envs": ["shell-fixture"], "agents": ["oracle"], "prices": "default"}).price_table()


def test_transcript_per_call_costs_add_up_to_the_sweeps_cost_column(tmp_path):
    """The agent prices tokens its own way (here 100/Mtok); the stored transcript's per-call costs
    are at the sweep's table, so they sum to the episode's cost in the table (tools and sandbox
    are free in this table, so tokens are the whole cost)."""
    from agentgym.models.testing import OpenAITestServer, Reply
    from agentgym.sweep.table import run_rows

    table = {"version": "custom-1", "models": {"m": {"input_per_mtok": 3.0, "cached_input_per_mtok": 1.0, "output_per_mtok": 11.0}}}
    script = [Reply.call("bash", {"command": "true"}, prompt_tokens=1000, cached_tokens=400, completion_tokens=30),
              Reply.call("submit", {}, prompt_tokens=2000, completion_tokens=50)]
    with OpenAITestServer(script) as srv:
        cfg = SweepConfig(name="priced", envs=[{"id": "shell-fixture", "max_tasks": 1}], agents=["react"], runtime="local",
                          models=[{"model": "m", "base_url": srv.base_url, "prices": {"input_per_mtok": 100.0}}],
                          prices=str(write(tmp_path, table)))
        run_sweep(cfg, out=tmp_path / "run", progress=False, preflight=False)  # the script is for the episode
    [line] = (tmp_path / "run" / "trajectories.jsonl").read_text().splitlines()
    turns = json.loads(line)["trajectory"]["transcript"]["turns"]
    expected = [(600 * 3.0 + 400 * 1.0 + 30 * 11.0) / 1e6, (2000 * 3.0 + 50 * 11.0) / 1e6]
    assert [t["cost"] for t in turns] == pytest.approx(expected)
    [row] = run_rows(tmp_path / "run")
    assert row.episodes == 1 and row.mean_cost == pytest.approx(sum(expected))


def test_a_sweeps_max_cost_budget_counts_tokens_at_its_price_table(tmp_path):
    """The react agent's own prices default to zero; in a sweep it is given the table's, so a
    max_cost budget ends the episode once the table says the tokens cost that much."""
    from agentgym.models.testing import OpenAITestServer, Reply
    from agentgym.sweep.store import Store

    table = {"version": "dear-1", "models": {"m": {"input_per_mtok": 1000.0, "output_per_mtok": 0.0}}}
    with OpenAITestServer([], default=Reply.call("bash", {"command": "true"}, prompt_tokens=1000, completion_tokens=1)) as srv:
        cfg = SweepConfig(name="dear", envs=[{"id": "shell-fixture", "max_tasks": 1}], agents=["react"], runtime="local",
                          models=[{"model": "m", "base_url": srv.base_url}], budgets=[{"max_turns": 5, "max_cost": 0.5}],
                          prices=str(write(tmp_path, table)))
        run_sweep(cfg, out=tmp_path / "run", progress=False, preflight=False)
    [line] = (tmp_path / "run" / "trajectories.jsonl").read_text().splitlines()
    traj = json.loads(line)["trajectory"]
    assert len(traj["steps"]) == 1 and traj["steps"][-1]["info"].get("truncated_reason") == "max_cost", traj["steps"][-1]["info"]
    assert [t["cost"] for t in traj["transcript"]["turns"]] == pytest.approx([1.0])
