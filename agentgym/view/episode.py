"""One episode as HTML: the grader's verdict, the budget spent per turn, and the transcript (the
model's messages when stored, else the env's steps). Shared by `agentgym view` and the static
report. Everything stored came from an agent that may be adversarial: every string is escaped,
and nothing stored is ever placed in a script, style or URL without quoting.
"""

from __future__ import annotations

import html
import json
from typing import Any

SHOW = 8_000  # characters of one message / observation shown before "show all"


def e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _pre(text: Any, cls: str = "") -> str:
    s = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, indent=1, default=repr)
    c = f" class={cls}" if cls else ""
    if len(s) <= SHOW:
        return f"<pre{c}>{e(s)}</pre>"
    return f"<pre{c}>{e(s[:SHOW])}</pre><details><summary>show all {len(s)} characters</summary><pre>{e(s)}</pre></details>"


def badge(outcome: str) -> str:
    return f'<span class="badge {e(outcome)}">{e(outcome)}</span>'


def verdict_html(ep: dict[str, Any], traj: dict[str, Any]) -> str:
    g = traj.get("grader_report") or {}
    verdict = g.get("verdict") or ep.get("outcome", "")
    parts = [f'<section class=verdict id=verdict><h3>Grader verdict: {badge(verdict)}</h3>']
    summary = g.get("summary") or ""
    if summary:
        parts.append(f"<p class=summary>{e(summary)}</p>")
    if ep.get("error") or traj.get("error"):
        parts.append("<p><b>Infrastructure error</b> (not the agent's fault; not scored):</p>" + _pre(ep.get("error") or traj.get("error")))
    tests = g.get("tests") or []
    if tests:
        rows = "".join(f'<tr class="{"ok" if str(t.get("status")).upper() in ("PASSED", "XFAIL") else "bad"}"><td class=l>{e(t.get("group", ""))}'
                       f'</td><td class=l>{e(t.get("name", ""))}</td><td class=l>{e(t.get("status", ""))}</td></tr>' for t in tests)
        parts.append(f"<table class=tests><tr><th class=l>group</th><th class=l>test</th><th class=l>status</th></tr>{rows}</table>")
    checks = g.get("checks") or []
    if checks:
        rows = "".join(f'<tr class="{"ok" if c.get("passed") else "bad"}"><td class=l>{e(c.get("name", ""))}</td>'
                       f'<td>{e(c.get("passed"))}</td><td class=l>{_pre(c.get("expected"))}</td><td class=l>{_pre(c.get("got"))}</td>'
                       f'<td class=l>{e(c.get("detail", ""))}</td></tr>' for c in checks)
        parts.append(f"<table class=checks><tr><th class=l>check</th><th>passed</th><th class=l>expected</th><th class=l>got</th>"
                     f"<th class=l>detail</th></tr>{rows}</table>")
    details = g.get("details") or {}
    if details:
        parts.append(f"<details><summary>grader fields ({e(g.get('source', ''))})</summary>{_pre(details)}</details>")
    if not g:
        parts.append("<p class=muted>This record has no grader report (stored before transcripts, or the episode "
                     "never started); the last observation below is what the env said.</p>")
    parts.append("</section>")
    return "".join(parts)


def _calls(usage: dict[str, Any]) -> str:
    calls = usage.get("tool_calls") or {}
    return ", ".join(f"{k} {v}" for k, v in sorted(calls.items())) or "-"


def budget_html(traj: dict[str, Any]) -> str:
    """Per env turn: the action's tool, what the episode had used after it, what remained."""
    steps = traj.get("steps") or []
    if not steps:
        return ""
    model_turns = ((traj.get("transcript") or {}).get("turns")) or []
    per_step: dict[int, list[dict[str, Any]]] = {}
    for t in model_turns:  # model calls that led to env step i+1 were made after `step` = i steps
        per_step.setdefault(int(t.get("step", 0)), []).append(t)
    rows = []
    for i, s in enumerate(steps):
        info = s.get("info") or {}
        used, left = info.get("usage") or {}, info.get("remaining") or {}
        calls = per_step.get(i, [])
        tok_in = sum(int(c.get("input_tokens", 0)) for c in calls)
        tok_out = sum(int(c.get("output_tokens", 0)) for c in calls)
        cost = sum(float(c.get("cost", 0.0)) for c in calls)
        model = f"{len(calls)} call(s): in {tok_in}, out {tok_out}, cost {cost:.6g}" if calls else "-"
        rows.append(f"<tr><td>{i + 1}</td><td class=l>{e(_action_name(s.get('action')))}</td><td class=l>{e(model)}</td>"
                    f"<td class=l>{e(_calls(used))}</td><td class=l>{e(', '.join(f'{k} {v}' for k, v in left.items()) or '-')}</td>"
                    f"<td>{float(s.get('seconds', 0)):.2f}</td><td>{float(s.get('reward', 0)):g}</td></tr>")
    return ("<section id=budget><h3>Budget per turn</h3><table class=budget><tr><th>turn</th><th class=l>action</th>"
            "<th class=l>model calls (tokens, cost)</th><th class=l>tool calls used</th><th class=l>remaining</th>"
            f"<th>env s</th><th>reward</th></tr>{''.join(rows)}</table></section>")


def _action_name(action: Any) -> str:
    if isinstance(action, dict):
        fn = action.get("function") if isinstance(action.get("function"), dict) else None
        return str((fn or {}).get("name") or action.get("name") or "?")
    if isinstance(action, list):
        return ", ".join(_action_name(a) for a in action)
    return "text" if isinstance(action, str) else "?"


def _message(m: dict[str, Any]) -> str:
    role = str(m.get("role", "?"))
    head = role + (f" (answers {m['tool_call_id']})" if m.get("tool_call_id") else "")
    body = _pre(m["content"]) if m.get("content") not in (None, "") else ""
    for c in m.get("tool_calls") or []:
        fn = c.get("function") or {}
        body += f'<div class=call>tool call <b>{e(fn.get("name", "?"))}</b> <code>{e(c.get("id", ""))}</code>{_pre(fn.get("arguments", ""))}</div>'
    return f'<div class="msg {e(role)}"><div class=role>{e(head)}</div>{body or "<i>(empty)</i>"}</div>'


def transcript_html(traj: dict[str, Any]) -> str:
    t = traj.get("transcript") or {}
    if t.get("messages"):
        meta = f"model {e(t.get('model') or '?')} · tools {e(', '.join(t.get('tool_names') or []))} · tool schemas sha256 {e(t.get('tools_sha256') or '?')}"
        last = (traj.get("steps") or [{}])[-1].get("observation", "")
        tail = f'<div class="msg env"><div class=role>env (final observation, not sent to the model)</div>{_pre(last)}</div>' if last else ""
        return (f"<section id=transcript><h3>Transcript (as the model saw it)</h3><p class=muted>{meta}</p>"
                + "".join(_message(m) for m in t["messages"]) + tail + "</section>")
    parts = ["<section id=transcript><h3>Steps</h3><p class=muted>No model transcript stored (a policy without a model, "
             "or a record from before transcripts).</p>",
             f'<div class="msg user"><div class=role>first observation</div>{_pre(traj.get("first_observation", ""))}</div>']
    for i, s in enumerate(traj.get("steps") or [], 1):
        parts.append(f'<div class="msg assistant"><div class=role>turn {i} action</div>{_pre(s.get("action"))}</div>'
                     f'<div class="msg tool"><div class=role>observation (reward {float(s.get("reward", 0)):g})</div>'
                     f'{_pre(str(s.get("observation", "")))}</div>')
    parts.append("</section>")
    return "".join(parts)


def episode_body(ep: dict[str, Any]) -> str:
    traj = ep.get("trajectory") or {}
    return verdict_html(ep, traj) + budget_html(traj) + transcript_html(traj)


EPISODE_CSS = """
.badge{padding:1px 6px;border-radius:3px;font-size:12px;color:#fff}.badge.passed{background:#2a2}
.badge.failed{background:#c22}.badge.error{background:#a60}.badge.unfinished{background:#777}
.msg{border-left:4px solid #ccc;margin:6px 0;padding:2px 8px}.msg .role{font-size:12px;color:#555;font-weight:bold}
.msg.system{border-color:#999}.msg.user{border-color:#1f77b4}.msg.assistant{border-color:#2ca02c}.msg.tool{border-color:#ff7f0e}
.msg.env{border-color:#9467bd}.call{margin:2px 0 2px 12px}tr.bad td{background:#fff0f0}tr.ok td{background:#f0fff0}
.muted{color:#777;font-size:13px}.summary{font-size:15px}
"""

__all__ = ["EPISODE_CSS", "badge", "budget_html", "e", "episode_body", "transcript_html", "verdict_html"]
