"""The LLM user simulator's answer cache: (task id, normalised question) -> answer, shared by processes.

Why: repeated runs must get the same answer to the same question, so pass^k measures the agent and
not the simulator. In one process the first answer stored for a key wins (AnswerCache.shared gives
every env the same instance). Several processes (a sweep's workers, two runs on one cache file)
used to each keep their own first answer and append it, and a later run took the file's LAST line
for a key: two runs disagreed, and the next run agreed with neither. Now the file decides: every
put takes an exclusive lock on it (fcntl.flock), reads what other processes appended since, and
appends only when the key is still new; otherwise it returns the stored answer. A reader keeps the
FIRST line per key. A torn last line from a crash is skipped and never glued to the next record.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from typing import Any, ClassVar, Literal

from agentgym.envs.sql.simulator import MAX_QUESTION_CHARS, SimulatorAnswer

CACHE_VERSION = 1
LabelSource = Literal["model", "fallback", "guard", "error"]


class LLMSimulatorAnswer(SimulatorAnswer):
    """A SimulatorAnswer plus how it came about (the same question always gives an equal one)."""

    label_source: LabelSource = "model"
    filtered: str | None = None  # why the post-filter replaced the model's reply, if it did


def normalise_question(question: str) -> str:
    return " ".join(question[:MAX_QUESTION_CHARS].split()).casefold()


class AnswerCache:
    """(task id, normalised question) -> answer, in memory and, with a path, in a JSONL file shared
    by processes (the module docstring): the first answer stored for a key wins, in this process
    and across processes. One instance per file per process (``AnswerCache.shared``)."""

    _shared: ClassVar[dict[Any, AnswerCache]] = {}
    _shared_lock = threading.Lock()

    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.path = os.fspath(path) if path is not None else None
        self._mem: dict[tuple[str, str], LLMSimulatorAnswer] = {}
        self._lock = threading.Lock()
        self._offset = 0  # bytes of the file read so far (whole lines only)
        if self.path and os.path.exists(self.path):
            with open(self.path, "rb") as fh:
                self._read_new(fh)

    @classmethod
    def shared(cls, key: Any, path: str | os.PathLike[str] | None = None) -> AnswerCache:
        """The process-wide cache for `path` (or for `key` when there is no file)."""
        k = ("file", os.path.realpath(path)) if path is not None else ("memory", key)
        with cls._shared_lock:
            if k not in cls._shared:
                cls._shared[k] = cls(path)
            return cls._shared[k]

    def _read_new(self, fh: Any) -> None:
        """Records appended since the last read (complete lines only); the first per key is kept."""
        fh.seek(self._offset)
        data = fh.read()
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            try:
                rec = json.loads(line)
                self._mem.setdefault((rec["task_id"], rec["question"]), LLMSimulatorAnswer(**rec["answer"]))
            except (ValueError, KeyError, TypeError):
                continue  # a torn line (a crash mid-write) or a record of another version
        self._offset += end

    def get(self, task_id: str, question: str) -> LLMSimulatorAnswer | None:
        with self._lock:
            return self._mem.get((task_id, question))

    def put(self, task_id: str, question: str, answer: LLMSimulatorAnswer, model: str = "") -> LLMSimulatorAnswer:
        """Store `answer` unless the key is already there (here or in the file); returns the stored one."""
        key = (task_id, question)
        with self._lock:
            if key in self._mem:
                return self._mem[key]
            if self.path:
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
                with open(self.path, "a+b") as fh:
                    fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file is closed
                    self._read_new(fh)
                    if key in self._mem:  # another process answered it first: its answer stands
                        return self._mem[key]
                    rec = {"v": CACHE_VERSION, "task_id": task_id, "question": question, "model": model,
                           "answer": answer.model_dump()}
                    size = fh.seek(0, os.SEEK_END)
                    torn = size > self._offset  # a crash left half a line: start on a fresh one
                    fh.write((b"\n" if torn else b"") + (json.dumps(rec) + "\n").encode("utf-8"))
                    fh.flush()
                    self._offset = fh.tell()
            self._mem[key] = answer
            return answer

    def __len__(self) -> int:
        return len(self._mem)
