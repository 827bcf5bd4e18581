"""Plugins: envs and agents that live in other packages or scripts, usable from every CLI command.

Why: an env or agent registered in Python (a bring-your-own site, series, database or repository)
exists only in the process that registered it, and each `agentgym ...` command is a fresh
process. Two ways in, both resolved before a name is reported unknown:

- a package declares an entry point in the group ``agentgym.envs`` or ``agentgym.agents``::

      [project.entry-points."agentgym.envs"]
      mysites = "mypkg.agentgym_plugin:register_envs"     # calls agentgym.register(...)
      [project.entry-points."agentgym.agents"]
      myagent = "mypkg.agentgym_plugin:register_agents"   # calls agentgym.agents.register_agent(...)

  A group is loaded lazily, once per process: when the registry (or the agent factory) is asked for
  a name it does not know, or for the whole list (`agentgym list`); never at `import agentgym`. The
  entry point's value is imported; if it names a function, that function is called with no
  arguments (a module may instead register when imported).
- ``agentgym --import MODULE`` (repeatable; a dotted module found from the working directory, or a
  ``path/to/file.py``) imports a script before the command runs.

A plugin that fails to load is one warning line naming it and its error (logger
``agentgym.plugins``), is remembered in `failures()` and named in the registry's "no env" error;
the other plugins and the command go on.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import sys
import threading
from pathlib import Path
from typing import Any

ENV_GROUP = "agentgym.envs"
AGENT_GROUP = "agentgym.agents"
GROUPS = (ENV_GROUP, AGENT_GROUP)

log = logging.getLogger("agentgym.plugins")
_lock = threading.RLock()
_loaded: set[str] = set()
_failed: dict[tuple[str, str], str] = {}


class PluginImportError(ValueError):
    """`--import X` could not be imported (a ValueError: bad input, reported in one line)."""


def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    """The group's entry points, one per name (the first found on sys.path wins, as for imports)."""
    seen: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=group):
        seen.setdefault(ep.name, ep)
    return list(seen.values())


def load(group: str) -> None:
    """Load every plugin of `group` once per process (later calls return at once)."""
    with _lock:
        if group in _loaded:
            return
        _loaded.add(group)  # first: a plugin that looks a name up while loading does not recurse
        for ep in entry_points(group):
            _load_one(group, ep)


def _load_one(group: str, ep: importlib.metadata.EntryPoint) -> None:
    try:
        obj = ep.load()
        if callable(obj) and not isinstance(obj, type):
            obj()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - one broken plugin must not break the others
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}".rstrip(": ")
        _failed[(group, ep.name)] = reason
        log.warning("agentgym: plugin %r (%s = %s) failed to load and is skipped: %s; fix or uninstall its package",
                    ep.name, group, ep.value, reason)


def failures(group: str | None = None) -> dict[str, str]:
    """Plugins that failed to load: {name: reason} (of one group, or of all as 'group:name')."""
    if group is not None:
        return {name: why for (g, name), why in _failed.items() if g == group}
    return {f"{g}:{name}": why for (g, name), why in _failed.items()}


def failure_hint(group: str) -> str:
    """A sentence for an 'unknown name' error when some plugin of the group did not load."""
    bad = failures(group)
    if not bad:
        return ""
    return " Plugins that failed to load: " + "; ".join(f"{n} ({why})" for n, why in sorted(bad.items())) + "."


def import_module(target: str) -> Any:
    """Import a dotted module (searched from the working directory first) or a .py file path."""
    target = target.strip()
    path = Path(target)
    try:
        if target.endswith(".py") or path.is_file():
            if not path.is_file():
                raise PluginImportError(f"--import {target}: no such file")
            # imported under its own name, its folder on sys.path: a "my_envs:MyEnv" entry point it
            # registers resolves to this very module, and its sibling imports work
            name = path.stem if path.stem.isidentifier() and path.stem not in sys.modules else f"agentgym_import_{path.stem}"
            if str(path.resolve().parent) not in sys.path:
                sys.path.insert(0, str(path.resolve().parent))
            spec = importlib.util.spec_from_file_location(name, path.resolve())
            if spec is None or spec.loader is None:
                raise PluginImportError(f"--import {target}: not a Python file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
        if not all(part.isidentifier() for part in target.split(".")):
            raise PluginImportError(f"--import {target!r}: give a module name (my_envs, pkg.envs) or a path to a .py file")
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))  # like `python -m`: scripts next to you are found
        return importlib.import_module(target)
    except PluginImportError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's script: say what broke, in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise PluginImportError(f"--import {target}: {type(exc).__name__}: {first}".rstrip(": ")
                                + "; fix the module or the name (it is imported before the command runs)") from exc


def import_modules(targets: list[str] | None) -> None:
    for target in targets or []:
        import_module(target)


def status() -> list[dict[str, str]]:
    """Every installed plugin: group, name, value and 'loaded' / 'failed: ...' / 'not loaded yet'."""
    rows = []
    for group in GROUPS:
        for ep in entry_points(group):
            if (group, ep.name) in _failed:
                state = "failed: " + _failed[(group, ep.name)]
            else:
                state = "loaded" if group in _loaded else "not loaded yet"
            rows.append({"group": group, "name": ep.name, "value": ep.value, "state": state})
    return rows


def _reset_for_tests() -> None:
    with _lock:
        _loaded.clear()
        _failed.clear()


__all__ = ["AGENT_GROUP", "ENV_GROUP", "PluginImportError", "entry_points", "failure_hint", "failures", "import_module",
           "import_modules", "load", "status"]
