"""Clarifications for BIRD annotations, which carry a term and a gold SQL snippet but no words.

Why: BIRD-Interact's own simulator asks an LLM to paraphrase the snippet. Offline we must not
hand the snippet over (it is gold SQL: "By 'last year' I mean: i.InvoiceDate >= ..." gives the
answer away), so the answer is built from what the user would say, grounded in what the agent
could read anyway:
- a knowledge ambiguity (its KB entry withheld): that entry's name, description and definition;
- otherwise the KB entry the snippet computes (its definition names the snippet's columns), the
  columns it uses with their meanings, and its shape in words (the total / average / median of,
  highest first, only the first N, above a cut-off, missing values);
- and when none of that applies, that the user cannot be more specific.
The text comes with its `grounding` (the KB and meaning text it used), which the simulators' leak
filter (simulator_secrets.Secrets) accepts, and with keywords (the KB name, the columns' words)
that help route a question to the ambiguity.
"""

from __future__ import annotations

import re

from agentgym.envs.sql.models import KBEntry

_IDENT = re.compile(r'"([^"]+)"|\b([A-Za-z_][A-Za-z0-9_]*)\b')
_AGG = [(r"\bpercentile_cont\s*\(\s*0?\.5\s*\)", "the median"), (r"\bmedian\s*\(", "the median"),
        (r"\bavg\s*\(", "the average"), (r"\bsum\s*\(", "the total"), (r"\bcount\s*\(", "the number"),
        (r"\bmax\s*\(", "the highest value"), (r"\bmin\s*\(", "the lowest value"),
        (r"\bstddev\w*\s*\(", "the standard deviation")]
_CMP = re.compile(r"(>=|<=|<>|!=|>|<|=)\s*(-?\d+(?:\.\d+)?)(?![\w.])")
_CMP_WORDS = {">": "above", ">=": "at least", "<": "below", "<=": "at most", "=": "equal to", "<>": "other than", "!=": "other than"}
CANNOT = "I can't be more specific about '{term}' than my request says; please go by the schema, the column meanings and the knowledge base."


def words(name: str) -> str:
    """'SalePrice' -> 'sale price', 'commission_rate' -> 'commission rate'."""
    return " ".join(re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).replace("_", " ").lower().split())


def _columns(snippet: str, meanings: dict[str, str]) -> list[tuple[str, str, str]]:
    by_col: dict[str, tuple[str, str, str]] = {}
    for key, meaning in meanings.items():
        parts = key.split("|")
        if len(parts) == 3:
            by_col.setdefault(parts[2].lower(), (parts[1], parts[2], meaning))
    out, seen = [], set()
    for m in _IDENT.finditer(snippet):
        name = (m.group(1) or m.group(2)).split(".")[-1]
        hit = by_col.get(name.lower())
        if hit and hit[1] not in seen:
            seen.add(hit[1])
            out.append(hit)
    return out


def _linked_kb(snippet: str, cols: list[tuple[str, str, str]], kb: list[KBEntry]) -> KBEntry | None:
    names = {c[1].lower() for c in cols}
    alias = {(m.group(1) or m.group(2)).lower() for m in _IDENT.finditer(snippet)}
    best, best_score = None, 0.0
    for e in kb:
        acronym = "".join(w[0] for w in re.findall(r"[A-Za-z]+", e.knowledge)).lower()
        in_def = {n for n in names if re.search(r"\b" + re.escape(n) + r"\b", e.definition.lower())}
        score = len(in_def) / len(names) if len(in_def) >= min(2, len(names)) and names else 0.0
        if acronym in alias and len(acronym) >= 2 or words(e.knowledge).replace(" ", "_") in alias:
            score += 1.0
        if score > best_score + 1e-9:
            best, best_score = e, score
    return best if best_score >= 0.5 else None


def clarify(term: str, snippet: str, kind: str, deleted: int | None, kb: list[KBEntry],
            meanings: dict[str, str]) -> tuple[str, str, list[str]]:
    """(clarification, grounding, keywords) for one annotation (module docstring)."""
    by_id = {e.id: e for e in kb}
    if deleted is not None and deleted in by_id:
        e = by_id[deleted]
        text = f"'{term}' refers to {e.knowledge}: {e.description} Definition: {e.definition}"
        return text, text, [e.knowledge]
    cols = _columns(snippet, meanings)
    entry = _linked_kb(snippet, cols, kb) if kind == "knowledge_linking_ambiguity" else None
    low = re.sub(r"within\s+group\s*\(\s*order\s+by", "within group (", snippet.lower())
    agg = next((w for pat, w in _AGG if re.search(pat, low)), "")
    sentences, grounding, keywords = [], [], []
    if entry is not None:
        sentences.append(f"By '{term}' I mean what the knowledge base calls '{entry.knowledge}': {entry.description}")
        grounding.append(f"{entry.knowledge}: {entry.description}")
        keywords.append(entry.knowledge)
    if cols:
        col_text = " and ".join(f"the {c} column of {t} ({m.rstrip('.')})" for t, c, m in cols[:3])
        grounding += [f"the {c} column of {t} ({m.rstrip('.')})" for t, c, m in cols[:3]]
        keywords += [words(c) for _, c, _ in cols[:3]]
        lead = "It is" if sentences else f"By '{term}' I mean"
        sentences.append(f"{lead} {agg + ' of ' if agg else ''}{col_text}.")
    elif agg:
        sentences.append(f"{'It is' if sentences else f'By {term!r} I mean'} {agg}.")
    if agg:
        keywords += [agg.split()[-1]]
    cuts = [f"{_CMP_WORDS[op]} {num}" for op, num in _CMP.findall(snippet)][:3]
    if cuts:
        sentences.append(f"The cut-off I have in mind is {', '.join(cuts)}.")
        keywords += ["threshold", "cut-off", "how high"]
    values = [f"{words(c)} '{v}'" for c, v in re.findall(r"\b(\w+)\s*=\s*'([^']{1,40})'", snippet)][:3]
    if values:
        sentences.append(f"{'I mean' if sentences else f'By {term!r} I mean'} {', '.join(values)}.")
    if re.search(r"\bis\s+not\s+null\b", low):
        sentences.append("Leave out rows where the value is missing.")
    elif re.search(r"\bis\s+null\b|\bcoalesce\s*\(", low):
        sentences.append("Rows with a missing value matter here; do not silently drop them.")
    if re.search(r"\border\s+by\b", low):
        desc = re.search(r"\bdesc\b", low) is not None
        sentences.append(f"{'Sort' if sentences else f'By {term!r} I mean: sort'} from {'highest to lowest' if desc else 'lowest to highest'}.")
        keywords += ["order", "sort order", "sorted", "highest", "lowest", "largest", "smallest"]
    m = re.search(r"\blimit\s+(\d+)", low)
    if m:
        sentences.append(f"Keep only the first {m.group(1)}.")
    if re.search(r"\bdistinct\b", low):
        sentences.append("Each value should appear once.")
    if not sentences:
        return CANNOT.format(term=term), "", [w for w in (words(term),) if w]
    return " ".join(sentences), "\n".join(grounding), keywords
