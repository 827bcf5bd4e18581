"""The time-series ML engineering domain (issue 7): forecasting, classification, anomaly detection,
imputation and engineering tasks, graded on the host against hidden answers. See README.md here."""

from __future__ import annotations

#: id -> (tasks selector passed to TimeSeriesEnv, description). Each family id holds every task of
#: its family; ts-lite a small mixed subset; make(id, tasks="all") opens the whole catalogue.
TS_ENVS = {
    "ts-forecast": ("forecast", "point and quantile forecasting (MASE, CRPS)"),
    "ts-classify": ("classify", "series classification (macro F1)"),
    "ts-anomaly": ("anomaly", "anomaly detection with labelled ranges (range-based F1 and AUC-PR)"),
    "ts-impute": ("impute", "imputation of masked values (scaled RMSE)"),
    "ts-engineering": ("engineering", "repair or translate a module run on hidden inputs; tune a JSON config; "
                                      "hand in a fitted model as an npz/JSON artifact"),
    "ts-lite": ("lite", "a small mixed subset of every family"),
}


def register_timeseries_envs() -> list[str]:
    """Register this domain's ids (string entry points: nothing heavy is imported until make())."""
    from agentgym.registry import register

    for env_id, (tasks, desc) in TS_ENVS.items():
        register(env_id, "agentgym.envs.timeseries.env:TimeSeriesEnv",
                 description=f"Time-series ML engineering: {desc}; graded on the host against hidden answers.",
                 kwargs={"tasks": tasks}, runtimes=["local", "docker"],
                 tags=["timeseries", tasks] + ([] if tasks == "lite" else ["heavy"]))
    return list(TS_ENVS)
