"""The LLM user simulator's answer cache shared by processes (sim_cache.py): one answer per question.

Not an agent's attack but a hole in what pass^k relies on: processes that asked the same question
kept different answers, and the next run took the file's last line. Real processes here.
"""

from __future__ import annotations

import multiprocessing

from agentgym.envs.sql.sim_cache import AnswerCache, LLMSimulatorAnswer

KEYS = [("t", f"question {i}") for i in range(20)]


def _answer(text: str) -> LLMSimulatorAnswer:
    return LLMSimulatorAnswer(kind="ambiguity", score=1.0, text=text)


def _worker(path: str, name: str, out, start) -> None:
    cache = AnswerCache(path)  # opened before the others wrote: each process's own memory
    start.wait(30)
    out.put({q: cache.put(t, q, _answer(f"{name}: {q}")).text for t, q in KEYS})


def test_processes_agree_on_the_first_answer_and_so_does_the_next_run(tmp_path):
    path = str(tmp_path / "sim_cache.jsonl")
    ctx = multiprocessing.get_context("fork")
    out, start = ctx.Queue(), ctx.Barrier(4)
    procs = [ctx.Process(target=_worker, args=(path, f"p{i}", out, start)) for i in range(4)]
    for p in procs:
        p.start()
    got = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    later = AnswerCache(path)
    stored = {q: later.get(t, q).text for t, q in KEYS}
    assert all(g == stored for g in got), (got, stored)


def test_two_caches_on_one_file_and_a_torn_line():
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/c.jsonl"
        a, b = AnswerCache(path), AnswerCache(path)
        assert a.put("t", "q", _answer("first")).text == "first"
        assert b.put("t", "q", _answer("second")).text == "first"  # read from the file: a's answer stands
        with open(path, "a") as fh:
            fh.write('{"v": 1, "task_id": "t", "question": "torn"')  # a crash mid-write
        assert b.put("t", "q2", _answer("after")).text == "after"
        fresh = AnswerCache(path)
        assert fresh.get("t", "q").text == "first" and fresh.get("t", "q2").text == "after" and len(fresh) == 2
