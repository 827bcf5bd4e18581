"""An env's tools as Python methods: the one shape every trainer adapter hands to its framework.

Why: trainers discover tools by introspecting methods (TRL's ``environment_factory`` reads each
public method's signature and Google-style docstring through transformers' ``get_json_schema``;
verifiers' ``@vf.tool`` reads the signature and the docstring through MCP). So an adapter builds
one method per ``env.tools`` entry, named after the tool, whose signature and docstring restate
the tool's JSON schema, and whose body forwards the call to the adapter's own step method. The
method really takes ``**kwargs``: a call with a wrong or missing argument reaches ``env.step``
(which answers it as a malformed action, counted by the env's published rule) instead of failing
in Python before the env sees it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any, Optional

_JSON_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list, "object": dict}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def py_type(prop: dict[str, Any]) -> Any:
    """The Python type hint that transformers' get_json_schema (and pydantic) turn back into this JSON type."""
    variants = prop.get("anyOf") or prop.get("oneOf")
    if variants:
        real = [v for v in variants if v.get("type") != "null"]
        base = py_type(real[0]) if len(real) == 1 else str
        return Optional[base] if len(real) < len(variants) else base  # noqa: UP045 - get_json_schema reads Optional
    return _JSON_TYPES.get(str(prop.get("type")), str)


def one_line(text: Any) -> str:
    return " ".join(str(text).split()) or "(no description)"


def tool_method(name: str, function: dict[str, Any], call: str, *, is_async: bool = False,
                args_doc: bool = True, returns: Any = inspect.Signature.empty, drop_unset: bool = False) -> Callable[..., Any]:
    """A method named ``name`` that runs ``self.<call>(name, arguments)``.

    Args:
        name: the tool's name (also the method's).
        function: the tool schema's ``function`` object (description, parameters).
        call: the name of the instance method that steps the env with ``(name, arguments)`` (a
            coroutine method too where ``is_async``).
        is_async: make a coroutine method (verifiers' tools are awaited).
        args_doc: add a Google-style ``Args:`` section (get_json_schema requires one per argument).
        returns: the signature's return annotation (left empty, get_json_schema adds no "return").
        drop_unset: leave out optional arguments that arrive as None (a framework that fills the
            signature's defaults sends them; the env should see them absent, as the model did).
    """
    params_schema = function.get("parameters") or {}
    props: dict[str, Any] = params_schema.get("properties") or {}
    required = set(params_schema.get("required") or [])

    def arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in kwargs.items() if v is not None or k in required} if drop_unset else kwargs

    if is_async:
        async def tool(self: Any, **kwargs: Any) -> Any:
            result = getattr(self, call)(name, arguments(kwargs))
            return await result if inspect.isawaitable(result) else result
    else:
        def tool(self: Any, **kwargs: Any) -> Any:
            return getattr(self, call)(name, arguments(kwargs))

    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for pname, prop in props.items():
        default = inspect.Parameter.empty if pname in required else None
        params.append(inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=py_type(prop)))
    tool.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    tool.__annotations__ = {p.name: p.annotation for p in params[1:]}
    if returns is not inspect.Signature.empty:
        tool.__annotations__["return"] = returns
    tool.__name__ = tool.__qualname__ = name
    doc = one_line(function.get("description") or name)
    if args_doc and props:
        doc += "\n\nArgs:" + "".join(f"\n    {p}: {one_line(props[p].get('description') or props[p].get('title') or p)}"
                                     for p in props)
    tool.__doc__ = doc
    return tool


def env_tool_schemas(env_id: str, env_kwargs: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``env_id``'s tool schemas, read from an env made for that and closed again."""
    import agentgym

    with agentgym.make(env_id, **(env_kwargs or {})) as env:
        return list(env.tools)


def tool_methods(env_id: str, schemas: Iterable[dict[str, Any]], call: str, *, reserved: Iterable[str] = (),
                 **options: Any) -> dict[str, Callable[..., Any]]:
    """One ``tool_method`` per schema, keyed by tool name (``options`` go to tool_method).

    Raises:
        ValueError: a tool whose name is no Python identifier, starts with ``_`` or is reserved.
    """
    reserved = set(reserved)
    methods: dict[str, Callable[..., Any]] = {}
    for schema in schemas:
        fn = schema["function"]
        name = fn["name"]
        if not _IDENT.match(name) or name.startswith("_") or name in reserved:
            why = f"clashes with {sorted(reserved)}" if name in reserved else "is not a public Python identifier"
            raise ValueError(f"{env_id}: tool {name!r} cannot be a method: its name {why}")
        methods[name] = tool_method(name, fn, call, **options)
    return methods


__all__ = ["env_tool_schemas", "one_line", "py_type", "tool_method", "tool_methods"]
