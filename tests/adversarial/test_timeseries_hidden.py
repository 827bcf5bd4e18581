"""Adversarial suite, time series (issue 13): hidden means hidden: task data the sandbox cannot rebuild or find. Each attack runs as an agent would
(write_file / bash / python tool calls, then submit through env.step) and asserts reward 0 or a
clear refusal: an agent failure with its reason (info["agent_failure"]), never an infrastructure
error (info["error"]), and no effect on an episode running beside it. Envs are pooled per module
(ts_episodes.py)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from agentgym.envs.timeseries import generators as G
from agentgym.envs.timeseries.builders import BUILDERS, build
from tests.adversarial.ts_episodes import IMPUTE, SPECS, call, episode, shared_envs  # noqa: F401


def test_attack_public_generator_replay():
    """The public generator (generators.py, pasted into the sandbox) run with the seed catalog.py
    publishes reproduced data.csv and the hidden answers exactly before the salt. Stopped: the data
    come from the public seed mixed with a per-install secret salt that never enters the sandbox.
    (The replay does reproduce the unsalted build: the attack is real.)"""
    spec = SPECS[IMPUTE]
    with episode(IMPUTE) as env:
        call(env, "write_file", path="pub_generators.py", content=inspect.getsource(G))
        code = (f"import numpy as np, pandas as pd, pub_generators as G\n"
                f"p = G.synth_panel({spec.seed}, 4, 240, 'D')\n"
                f"p.insert(0, 'id', p['series_id'] + '_' + p.groupby('series_id').cumcount().astype(str).str.zfill(4))\n"
                f"d = pd.read_csv('data.csv')\n"
                f"miss = d['id'][d['value'].isna()]\n"
                f"p.set_index('id').loc[miss, ['value']].reset_index().to_csv('submission.csv', index=False)\n"
                f"same = np.allclose(p['value'][d['value'].notna()].to_numpy(), d['value'].dropna().to_numpy())\n"
                f"print('train reproduced:', same)")
        obs, *_ = call(env, "python", code=code)
        assert "train reproduced: False" in obs["text"], obs["text"]
        _obs, reward, terminated, _t, info = call(env, "submit")
        assert terminated and reward < 0.5 and "error" not in info, (reward, info)
    unsalted = BUILDERS["impute"](spec)  # what the same replay matched before the salt: every answer
    panel = G.synth_panel(spec.seed, 4, 240, "D")
    panel.index = panel["series_id"] + "_" + panel.groupby("series_id").cumcount().astype(str).str.zfill(4)
    assert np.allclose(panel.loc[unsalted.answers.index, "value"].to_numpy(), unsalted.answers["value"].to_numpy())


def test_salt_keeps_a_build_reproducible_and_changes_with_the_install():
    """One install (one salt) rebuilds the same task; another salt gives other data of the same kind."""
    spec = SPECS[IMPUTE]
    a1, a2, b = build(spec, salt=b"\x01" * 32), build(spec.model_copy(), salt=b"\x01" * 32), build(spec, salt=b"\x02" * 32)
    assert a1.public_files == a2.public_files and a1.answers.equals(a2.answers)
    assert a1.public_files["data.csv"] != b.public_files["data.csv"]
    assert a1.spec == spec and a1.statement.split("missing")[0] == b.statement.split("missing")[0]


@pytest.mark.parametrize("runtime", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_attack_affine_fit_against_shipped_statsmodels(runtime):
    """fc-real-co2-h12 (in ts-lite) was co2 from statsmodels under an affine map, and the sandbox ships
    statsmodels: one least-squares fit of train.csv against the original gave the hidden horizon.
    Stopped twice: the image no longer ships statsmodels' datasets (docker: the load fails), and the
    task's series is a keyed nonlinear warp plus a keyed AR(1) part (local: the fit lands where a
    forecaster does, not near 0)."""
    task = "fc-real-co2-h12"
    with episode(task, runtime) as env:
        code = ("import numpy as np, pandas as pd\n"
                "tr, fu = pd.read_csv('train.csv'), pd.read_csv('future.csv')\n"
                "try:\n"
                "    from statsmodels.datasets import co2\n"
                "    y = co2.load_pandas().data['co2'].resample('MS').mean().interpolate().to_numpy()\n"
                "except Exception as exc:\n"
                "    print('no original:', type(exc).__name__)\n"
                "    y = None\n"
                "n, h = len(tr), len(fu)\n"
                "if y is not None:\n"
                "    X = np.c_[y[:n], np.ones(n)]\n"
                "    c = np.linalg.lstsq(X, tr['value'].to_numpy(), rcond=None)[0]\n"
                "    pred = np.c_[y[n:n + h], np.ones(h)] @ c\n"
                "else:\n"
                "    pred = np.full(h, tr['value'].iloc[-1])\n"
                "pd.DataFrame({'id': fu['id'], 'yhat': pred}).to_csv('submission.csv', index=False)\n")
        obs, *_ = call(env, "python", code=code, timeout=300)  # statsmodels imports slowly on a loaded machine
        if runtime == "docker":
            assert "no original:" in obs["text"], obs["text"]
        _obs, _reward, terminated, _t, info = call(env, "submit")
        grade = info["tool_results"][-1]["grade"]
        assert terminated and grade["valid"], grade
        assert grade["score"] > 0.5 * grade["reference"], grade  # a forecaster's error, not ~0 (was 0.0 before)



@pytest.mark.docker
def test_attack_salt_hunt_in_the_sandbox():
    """Own: look for the salt itself from the docker sandbox (cache folders, environment, the whole
    filesystem). It is only in the host's cache, so nothing there names it."""
    from agentgym.envs.timeseries.secret import salt

    key = salt().hex()
    with episode(IMPUTE, "docker") as env:
        obs, *_ = call(env, "bash", command="env; ls -la ~ /root/.cache 2>&1; "
                                             "grep -rs " + key[:16] + " / --exclude-dir=proc --exclude-dir=sys | head -3")
        assert key[:16] not in obs["text"].replace("grep -rs " + key[:16], "")
