"""What options (constructor keyword arguments) an env takes, read from its entry point's signature.

Why: options come from users as text (`-e dataset=x.jsonl`, a sweep config's `kwargs:`) and a
misspelt one should be one line naming the options that exist, before anything is built or any
episode runs, not a TypeError from deep inside a constructor or a silently ignored key.

The entry point is a class or a factory function. A class's options are its ``__init__``'s keyword
parameters and, while an ``__init__`` takes ``**kwargs``, its bases' (AgentEnv's budget,
max_turns, ...). A factory's ``**kwargs`` are followed to the class its return annotation names
(``def make_synth(...) -> SWEEnv``); parameters that class requires without a default are the
factory's to fill, not the user's. Where ``**kwargs`` cannot be followed (no usable annotation),
the list is open: unknown options are then caught when the env is built, from Python's own
"unexpected keyword argument" error, and reported the same way.
"""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any

_FILLED_BY_REGISTRY = frozenset({"env_id"})
_NO_DEFAULT = "(required)"


class EnvOptionError(ValueError, TypeError):
    """An option the env does not take, or a required one missing (both a ValueError and a
    TypeError, so callers that caught either for bad constructor arguments still do)."""


def _inits(cls: type) -> list[Any]:
    return [c.__dict__["__init__"] for c in cls.__mro__ if "__init__" in c.__dict__ and c is not object]


def _returned_class(fn: Any) -> type | None:
    try:
        ret = typing.get_type_hints(fn).get("return")
    except Exception:  # noqa: BLE001 - an annotation we cannot resolve: the list stays open
        return None
    return ret if isinstance(ret, type) else None


def options_of(entry: Any) -> tuple[dict[str, Any], bool]:
    """({option: default or '(required)'}, closed) for a class or factory; closed=False when some
    **kwargs could not be followed (then any other name may still be accepted)."""
    opts: dict[str, Any] = {}
    top = True
    chain = _inits(entry) if isinstance(entry, type) else [entry]
    while chain:
        fn = chain.pop(0)
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            return opts, False
        var_kw = False
        for p in params:
            if p.name == "self" or p.kind is p.VAR_POSITIONAL:
                continue
            if p.kind is p.VAR_KEYWORD:
                var_kw = True
            elif p.name not in _FILLED_BY_REGISTRY and p.name not in opts:
                if p.default is p.empty and not top:
                    continue  # a followed class's required argument: the factory fills it
                opts[p.name] = _NO_DEFAULT if p.default is p.empty else p.default
        if not var_kw:
            return opts, True
        if isinstance(entry, type) or not top:
            if not chain:
                return opts, False  # the last __init__ still takes **kwargs
            continue
        cls = _returned_class(fn)
        if cls is None:
            return opts, False
        top, entry, chain = False, cls, _inits(cls)
    return opts, False


def check(env_id: str, entry: Any, given: dict[str, Any]) -> None:
    """Raise EnvOptionError if `given` names an option the entry point does not take."""
    opts, closed = options_of(entry)
    if not closed:
        return
    unknown = sorted(k for k in given if k not in opts and k not in _FILLED_BY_REGISTRY)
    if unknown:
        raise EnvOptionError(unknown_message(env_id, unknown, opts))


def unknown_message(env_id: str, unknown: list[str], opts: dict[str, Any], closed: bool = True) -> str:
    import difflib

    close = [m for k in unknown for m in difflib.get_close_matches(k, list(opts), n=1, cutoff=0.6)]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    listed = ", ".join(opts) or "(none)"
    return (f"env {env_id} has no option {', '.join(map(repr, unknown))}{hint}; its options: {listed}"
            f"{'' if closed else ', and those it passes on'} (see `agentgym info {env_id}`)")


_UNEXPECTED = re.compile(r"got an unexpected keyword argument '(\w+)'")


def explain_type_error(env_id: str, exc: TypeError, given: dict[str, Any], entry: Any) -> EnvOptionError | None:
    """An EnvOptionError for Python's 'unexpected keyword argument' about an option the user gave."""
    m = _UNEXPECTED.search(str(exc))
    if not m or m.group(1) not in given:
        return None
    return EnvOptionError(unknown_message(env_id, [m.group(1)], *options_of(entry)))


def describe(opts: dict[str, Any], closed: bool) -> str:
    """One line for `agentgym info`: name=default, ..."""
    text = ", ".join(f"{k}={v!r}" if v != _NO_DEFAULT else f"{k} (required)" for k, v in opts.items())
    return text + ("" if closed else ", ... (more are passed on)")


__all__ = ["EnvOptionError", "check", "describe", "explain_type_error", "options_of", "unknown_message"]
