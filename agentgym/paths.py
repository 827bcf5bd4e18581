"""Relative paths in a config file: read from the config's folder first.

Why one helper: a sweep config's env kwargs and `agentgym train`'s config (model, sft_data,
env_kwargs) both let a relative path name a file beside the config, so a config and its data can
move together. Option values are mostly not paths, though (`runtime: docker`, `split: test`, an
image or task id): rewriting every string that happens to name something in the config's folder
turned `runtime: docker` next to a `docker/` folder into '/abs/docker'. So only a value that looks
like a path is resolved: it has a '/', starts with '.' or '~', or its name has an extension
(`data.jsonl`). A bare word (`docker`, `data`) is left as written; point at a folder with `./data`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def looks_like_path(value: str) -> bool:
    """A '/' (or the OS separator), a leading '.' or '~', or a name with an extension."""
    if not value or "\n" in value:
        return False
    return "/" in value or os.sep in value or value[0] in ".~" or "." in value.rstrip(".")


def beside(config_dir: Path | None, value: Any, *, any_text: bool = False) -> Any:
    """`value` made absolute when it is a relative path that exists in `config_dir` (a leading '~'
    is the home folder); any other value as it is. any_text: resolve a bare word too (a field that
    is always a path, like train's `model`)."""
    if not isinstance(value, str) or not (any_text and value and "\n" not in value or looks_like_path(value)):
        return value
    if value.startswith("~"):
        return os.path.expanduser(value)
    if config_dir is None or Path(value).is_absolute():
        return value
    try:
        return str((config_dir / value).resolve()) if (config_dir / value).exists() else value
    except (OSError, ValueError):  # not a usable path (too long, a NUL ...): left for the env to refuse
        return value
