"""The task catalog: every task as a TaskSpec (seeded recipe). Built lazily by builders.build()."""

from __future__ import annotations

from agentgym.envs.timeseries.models import TaskSpec


def _forecast() -> list[TaskSpec]:
    specs = []
    seed = 100
    for freq, hs in (("D", (7, 28)), ("h", (24, 48)), ("MS", (6, 18)), ("W-MON", (8, 26))):
        for h in hs:
            seed += 1
            specs.append(TaskSpec(id=f"fc-synth-{freq.lower()}-h{h}", family="forecast", variant="synth", seed=seed,
                                  params={"freq": freq, "horizon": h, "length": 200 + 2 * h}))
    for freq, h in (("D", 14), ("MS", 12), ("D", 28), ("W-MON", 13)):
        seed += 1
        specs.append(TaskSpec(id=f"fc-regime-{freq.lower()}-h{h}", family="forecast", variant="synth", seed=seed,
                              params={"freq": freq, "horizon": h, "regime": True, "length": 240}))
    for freq, h in (("D", 14), ("W-MON", 13)):
        seed += 1
        specs.append(TaskSpec(id=f"fc-many-{freq.lower()}-h{h}", family="forecast", variant="synth", seed=seed,
                              params={"freq": freq, "horizon": h, "n_series": 30, "length": 160}))
    for freq, h in (("D", 14), ("D", 28), ("W-MON", 8)):
        seed += 1
        specs.append(TaskSpec(id=f"fc-exog-{freq.lower()}-h{h}", family="forecast", variant="synth", seed=seed,
                              params={"freq": freq, "horizon": h, "exog": True, "length": 220}))
    for freq, h in (("D", 14), ("MS", 12), ("h", 24)):
        seed += 1
        specs.append(TaskSpec(id=f"fc-quantile-{freq.lower()}-h{h}", family="forecast", variant="quantile", seed=seed,
                              params={"freq": freq, "horizon": h, "length": 200}))
    for name, hs in (("co2", (6, 12, 24, 36)), ("elnino", (6, 12, 18)), ("macro-cpi", (8, 12))):
        for h in hs:
            seed += 1
            specs.append(TaskSpec(id=f"fc-real-{name.replace('macro-', '')}-h{h}", family="forecast", variant="real",
                                  seed=seed, params={"datasets": [name], "horizon": h}))
    return specs


def _classify() -> list[TaskSpec]:
    return [TaskSpec(id=f"cls-{k}class-{'noisy' if noise > 0.4 else 'clean'}", family="classify", variant="shapes",
                     seed=300 + 10 * k + int(noise * 10), params={"n_classes": k, "noise": noise})
            for k in (3, 4, 5, 6) for noise in (0.2, 0.6)]


def _anomaly() -> list[TaskSpec]:
    combos = [(["spike"], "D"), (["spike"], "h"), (["spike", "variance"], "h"), (["variance", "flatline"], "D"),
              (["spike"], "MS"), (["flatline"], "h"), (["variance"], "MS"),
              (["flatline", "spike"], "D"), (["spike", "variance", "level_shift"], "D"),
              (["spike", "level_shift", "variance", "flatline"], "W-MON")]
    return [TaskSpec(id=f"ano-{'-'.join(k.replace('_', '') for k in kinds)}-{freq.lower()}", family="anomaly",
                     variant="inject", seed=400 + i, params={"kinds": kinds, "freq": freq})
            for i, (kinds, freq) in enumerate(combos)]


def _impute() -> list[TaskSpec]:
    return [TaskSpec(id=f"imp-{'blocks' if blocks else 'scattered'}-{freq.lower()}-{int(frac * 100)}", family="impute",
                     variant="mask", seed=500 + i, params={"freq": freq, "blocks": blocks, "frac": frac})
            for i, (freq, blocks, frac) in enumerate([(f, b, fr) for f in ("D", "h", "MS", "W-MON") for b, fr in
                                                      ((False, 0.1), (True, 0.2))])]


def _engineering() -> list[TaskSpec]:
    specs = []
    for i, (bug, freq) in enumerate([("column", "D"), ("offbyone", "MS"), ("period", "D"), ("column", "h")]):
        specs.append(TaskSpec(id=f"eng-repair-{bug}-{freq.lower()}", family="engineering", variant="repair",
                              seed=600 + i, params={"bug": bug, "freq": freq, "horizon": 14 if freq != "MS" else 12}))
    for i, freq in enumerate(("D", "MS", "W-MON", "h")):
        specs.append(TaskSpec(id=f"eng-tune-{freq.lower()}", family="engineering", variant="tune", seed=650 + i,
                              params={"freq": freq, "horizon": {"D": 14, "MS": 12, "W-MON": 13, "h": 24}[freq]}))
    # translate a routine between library idioms (translate.py): all hidden inputs must match
    for i, (routine, src, dst) in enumerate([("ses", "numpy", "pandas"), ("holt", "numpy", "statsmodels"),
                                             ("rolling", "pandas", "numpy"), ("ar", "statsmodels", "numpy")]):
        specs.append(TaskSpec(id=f"eng-translate-{routine}-{src}-to-{dst}", family="engineering", variant="translate",
                              seed=700 + i, params={"routine": routine}, pass_reward=1.0))
    # hand in a fitted linear AR model as a safe artifact (artifacts.py), scored at rolling origins
    for i, (fmt, freq, h) in enumerate([("npz", "D", 14), ("npz", "MS", 12), ("json", "h", 24)]):
        specs.append(TaskSpec(id=f"eng-artifact-{fmt}-{freq.lower()}", family="engineering", variant="artifact",
                              seed=750 + i, params={"format": fmt, "freq": freq, "horizon": h, "harmonics": 2, "lags": 2}))
    return specs


def all_specs() -> list[TaskSpec]:
    return _forecast() + _classify() + _anomaly() + _impute() + _engineering()


#: small per-family subsets (`tasks="quick-<family>"`, and `ts-lite`) for quick reference runs
QUICK = {
    "forecast": ["fc-synth-d-h7", "fc-quantile-ms-h12"],
    "classify": ["cls-3class-clean", "cls-5class-noisy"],
    "anomaly": ["ano-spike-d", "ano-flatline-spike-d"],
    "impute": ["imp-scattered-d-10", "imp-blocks-ms-20"],
    "engineering": ["eng-repair-column-d", "eng-tune-d", "eng-translate-ar-statsmodels-to-numpy", "eng-artifact-npz-d"],
    "lite": ["fc-exog-d-h14", "cls-4class-clean", "ano-variance-ms", "imp-blocks-d-20", "fc-real-co2-h12", "eng-repair-offbyone-ms"],
}
