"""Shell tasks of the fixture env: each has a statement, files to set up, a reference solution,
and a check that judges artifacts read OUT of the sandbox (never a test placed inside it).

A check returns a Verdict: the verdict and the line the agent is told when it submits, plus what
was expected and what was found, which only the grader report shows (ShellEnv.grader_report(),
read on the host after the episode): expected answers and hidden inputs never reach the agent."""

from __future__ import annotations

import difflib
import json
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from agentgym.actions import ToolCall
from agentgym.sandbox import Sandbox
from agentgym.sandbox.factory import make_sandbox
from agentgym.transcript import clip, clip_json

REPORT_CAP = 2_000  # characters of one expected / got / diff in the grader report


def _bounded(value: Any) -> Any:
    """A report field within REPORT_CAP: text clipped, other values (dicts, lists) when their JSON fits."""
    return clip(value, REPORT_CAP) if isinstance(value, str) else clip_json(value, REPORT_CAP)


class Verdict(NamedTuple):
    passed: bool
    detail: str  # what the agent is told when it submits
    name: str = ""  # the artifact checked (e.g. answer.txt)
    expected: Any = None  # host side only: the grader report, after the episode
    got: Any = None

    def report(self) -> dict[str, Any]:
        """The grader report's fields (agentgym.transcript reads `outcomes`): expected vs got and,
        for text files, a unified diff of the two."""
        why = self.detail
        if isinstance(self.expected, str) and isinstance(self.got, str) and not self.passed:
            diff = "".join(difflib.unified_diff(self.expected.splitlines(True), self.got.splitlines(True),
                                                "expected", "got", n=1))
            why += f"\n{diff}" if diff else ""
        check = {"description": self.name or "submission", "passed": self.passed, "expected": _bounded(self.expected),
                 "got": _bounded(self.got), "reason": clip(why, REPORT_CAP)}
        return {"summary": f"{'passed' if self.passed else 'failed'}: {self.detail}", "outcomes": [check]}


Check = Callable[[Sandbox, str], Verdict]


@dataclass(frozen=True)
class ShellTask:
    id: str
    statement: str
    files: dict[str, str]
    solution: list[ToolCall]
    check: Check = field(repr=False)
    #: data only the grader sees (kept in the host process, never written to the sandbox)
    hidden: tuple[str, ...] = field(default=(), repr=False)


def _bash(cmd: str) -> ToolCall:
    return ToolCall(name="bash", arguments={"command": cmd})


def _read_text(sb: Sandbox, path: str) -> str | None:
    """The file's text; None when it is missing. A file that cannot be read safely (FIFO, device,
    over 1 MiB, a link out) raises SandboxFileRefused, an AgentFault: the submit fails with reward 0."""
    try:
        return sb.read_file(path, max_bytes=1 << 20).decode("utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None


def _answer_equals(expected: str) -> Check:
    def check(sb: Sandbox, workdir: str) -> Verdict:
        got = _read_text(sb, f"{workdir}/answer.txt")
        if got is None:
            return Verdict(False, "answer.txt does not exist", "answer.txt", expected, None)
        got = got.strip()
        ok = got == expected
        return Verdict(ok, "correct" if ok else f"answer.txt holds {got[:80]!r}", "answer.txt (stripped)", expected, got)

    return check


def _hello() -> ShellTask:
    def check(sb: Sandbox, workdir: str) -> Verdict:
        got = _read_text(sb, f"{workdir}/hello.txt")
        ok = got == "hello, world\n"
        return Verdict(ok, "correct" if ok else f"hello.txt is {got!r}", "hello.txt", "hello, world\n", got)

    return ShellTask(
        id="hello",
        statement="Create a file hello.txt in the working directory containing exactly the line 'hello, world'.",
        files={},
        solution=[ToolCall(name="write_file", arguments={"path": "hello.txt", "content": "hello, world\n"})],
        check=check,
    )


def _count_lines(rng: random.Random) -> ShellTask:
    n = rng.randint(40, 400)
    lines = "".join(f"record {rng.randint(0, 10**6)}\n" for _ in range(n))
    return ShellTask(
        id="count-lines",
        statement="How many lines does data.txt have? Write the number (digits only) to answer.txt.",
        files={"data.txt": lines},
        solution=[_bash("wc -l < data.txt > answer.txt")],
        check=_answer_equals(str(n)),
    )


def _sum_column(rng: random.Random) -> ShellTask:
    rows = [(f"item{i}", rng.randint(1, 999)) for i in range(rng.randint(20, 60))]
    csv = "name,amount\n" + "".join(f"{n},{a}\n" for n, a in rows)
    return ShellTask(
        id="sum-column",
        statement="numbers.csv has a header and a column 'amount'. Write the sum of that column to answer.txt.",
        files={"numbers.csv": csv},
        solution=[_bash("awk -F, 'NR>1 {s+=$2} END {print s}' numbers.csv > answer.txt")],
        check=_answer_equals(str(sum(a for _, a in rows))),
    )


def _sort_unique(rng: random.Random) -> ShellTask:
    vocab = [f"w{rng.randint(0, 60):02d}" for _ in range(200)]
    expected = "\n".join(sorted(set(vocab))) + "\n"

    def check(sb: Sandbox, workdir: str) -> Verdict:
        got = _read_text(sb, f"{workdir}/sorted.txt")
        ok = got == expected
        return Verdict(ok, "correct" if ok else "sorted.txt is missing or not the sorted unique words", "sorted.txt", expected, got)

    return ShellTask(
        id="sort-unique",
        statement="words.txt has one word per line. Write its distinct words, sorted, one per line, to sorted.txt.",
        files={"words.txt": "\n".join(vocab) + "\n"},
        solution=[_bash("sort -u words.txt > sorted.txt")],
        check=check,
    )


def _find_needle(rng: random.Random) -> ShellTask:
    files = {f"tree/d{i}/f{j}.txt": f"hay {rng.random()}\n" for i in range(5) for j in range(4)}
    target = f"tree/d{rng.randint(0, 4)}/f{rng.randint(0, 3)}.txt"
    files[target] = "hay\nneedle\nhay\n"
    return ShellTask(
        id="find-needle",
        statement="One file under tree/ contains the word 'needle'. Write its path relative to the working "
        "directory (like tree/dX/fY.txt) to answer.txt.",
        files=files,
        solution=[_bash("grep -rl needle tree > answer.txt")],
        check=_answer_equals(target),
    )


def _json_field(rng: random.Random) -> ShellTask:
    port = rng.randint(1024, 65000)
    cfg = {"service": {"name": "api", "listen": {"host": "0.0.0.0", "port": port}}, "debug": False}
    return ShellTask(
        id="json-field",
        statement="config.json describes a service. Write the port it listens on to answer.txt.",
        files={"config.json": json.dumps(cfg, indent=2)},
        solution=[_bash("python3 -c \"import json;print(json.load(open('config.json'))['service']['listen']['port'])\" > answer.txt")],
        check=_answer_equals(str(port)),
    )


def _rename_ext(rng: random.Random) -> ShellTask:
    names = sorted({f"note{rng.randint(0, 99)}" for _ in range(6)})
    files = {f"notes/{n}.txt": f"{n}\n" for n in names}

    def check(sb: Sandbox, workdir: str) -> Verdict:
        want = sorted(f"{n}.md" for n in names)
        with tempfile.TemporaryDirectory() as tmp:  # judge a copy on the host, not `ls` in the sandbox
            try:
                sb.copy_out(f"{workdir}/notes", tmp, max_bytes=16 << 20)
            except FileNotFoundError:
                return Verdict(False, "notes/ is gone", "files in notes/", want, None)
            found = sorted(p.name for p in Path(tmp).rglob("*") if p.is_file())
        return Verdict(found == want, "correct" if found == want else f"notes/ holds {found[:8]}", "files in notes/", want, found[:50])

    return ShellTask(
        id="rename-ext",
        statement="Rename every .txt file in notes/ to the same name with the extension .md.",
        files=files,
        solution=[_bash("cd notes && for f in *.txt; do mv \"$f\" \"${f%.txt}.md\"; done")],
        check=check,
    )


def _reverse_script(rng: random.Random, runtime: str) -> ShellTask:
    # Hidden inputs: only the grader knows them, and it runs the agent's script in a FRESH sandbox.
    hidden = [f"{rng.choice(['abc', 'gym', 'agent'])}{rng.randint(0, 999)}" for _ in range(3)]

    def check(sb: Sandbox, workdir: str) -> Verdict:
        name, expected = "bash reverse.sh WORD, on hidden words", {w: w[::-1] for w in hidden}
        script = _read_text(sb, f"{workdir}/reverse.sh")
        if script is None:
            return Verdict(False, "reverse.sh does not exist", name, expected, None)
        got: dict[str, str] = {}
        # the agent's script runs here: the fixture's own walls (docker: read-only root, tmpfs under
        # a small memory limit; both: small files only), so grading cannot fill the host's disk
        with make_sandbox(runtime=runtime, warm_spares=False, files={"reverse.sh": script}, memory="256m", pids=64,
                          read_only=runtime == "docker", max_file_size="16m") as grader:
            for word in hidden:
                res = grader.exec(f"bash reverse.sh {word}", timeout=10)
                out = res.stdout.strip()
                got[word] = out[:400]  # under the report's cap: nothing more to clip
                if out != word[::-1]:
                    # the output itself only in the report: an echo script's would be the hidden input
                    return Verdict(False, "reverse.sh's output for a hidden input is not that input reversed", name, expected, got)
        return Verdict(True, "correct on all hidden inputs", name, expected, got)

    return ShellTask(
        id="reverse-script",
        statement="Write a bash script reverse.sh that prints its first argument reversed "
        "(bash reverse.sh abc prints cba). It will be run on inputs you do not see.",
        files={},
        solution=[ToolCall(name="write_file", arguments={"path": "reverse.sh", "content": "python3 -c 'import sys; print(sys.argv[1][::-1])' \"$1\"\n"})],
        check=check,
        hidden=tuple(hidden),
    )


def build_tasks(runtime: str) -> dict[str, ShellTask]:
    """The fixture's tasks. Seeded, so every process sees the same files and answers."""
    rng = random.Random(20261123)
    tasks = [
        _hello(), _count_lines(rng), _sum_column(rng), _sort_unique(rng), _find_needle(rng),
        _json_field(rng), _rename_ext(rng), _reverse_script(rng, runtime),
    ]
    return {t.id: t for t in tasks}
