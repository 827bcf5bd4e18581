"""Sandbox benchmark: channel vs docker exec, create/reset/fork latency, idle memory, concurrency.

    python benchmarks/sandbox.py                 # docker backend, rich table
    python benchmarks/sandbox.py --json          # last stdout line is one JSON object
    python benchmarks/sandbox.py --runtime local # the parts that apply to the local backend
    python benchmarks/sandbox.py --roundtrip-only --json   # only the command round trip (p50/p95)

Targets (docker): channel p50 <= 1 ms and >= 30x faster than one `docker exec` per command;
reset p50 <= 300 ms (warm spare ready); 64 concurrent sandboxes with 0 errors and 0 left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentgym.sandbox import Sandbox, SandboxSpec, reaper  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def timings(xs: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(xs, 0.5) * 1e3, 3), "p95_ms": round(pct(xs, 0.95) * 1e3, 3), "n": len(xs)}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def new(runtime: str, warm_spares: bool = True, **spec: Any) -> Sandbox:
    if runtime == "docker":
        from agentgym.sandbox.docker import DockerSandbox

        return DockerSandbox(SandboxSpec(**spec), warm_spares=warm_spares)
    from agentgym.sandbox.local import LocalSandbox

    return LocalSandbox(SandboxSpec(**spec))


def bench_roundtrip(runtime: str, n_channel: int, n_exec: int) -> dict[str, Any]:
    s = new(runtime, warm_spares=False)
    try:
        for _ in range(20):
            s.exec("echo hi")
        chan = []
        for _ in range(n_channel):
            dt, r = timed(lambda: s.exec("echo hi"))
            assert r.stdout == "hi\n"
            chan.append(dt)
        out: dict[str, Any] = {"channel_echo": timings(chan)}
        if runtime == "docker":
            from agentgym.sandbox._docker_util import open_channel

            out["channel_transport"] = s._live.channel.transport.fast_path  # type: ignore[attr-defined]
            # the same server reached through the docker exec stream only (no unix-socket fast path)
            slow = open_channel(s.spec, s.container_id, s.id, fast_path=False)  # type: ignore[attr-defined]
            try:
                for _ in range(20):
                    slow.exec("echo hi")
                stream = []
                for _ in range(n_channel):
                    dt, r = timed(lambda: slow.exec("echo hi"))
                    assert r.stdout == "hi\n"
                    stream.append(dt)
                out["channel_echo_exec_stream"] = timings(stream)
            finally:
                slow.close(graceful=False)
            container = reaper.docker_client().containers.get(s.container_id)  # type: ignore[attr-defined]
            exe = []
            for _ in range(n_exec):
                dt, r = timed(lambda: container.exec_run(["echo", "hi"]))
                assert r.output == b"hi\n"
                exe.append(dt)
            out["docker_exec_echo"] = timings(exe)
            out["speedup_p50"] = round(pct(exe, 0.5) / pct(chan, 0.5), 1)
        return out
    finally:
        s.close()


def bench_lifecycle(runtime: str, n: int) -> dict[str, Any]:
    creates, forks, resets_ready, resets_b2b = [], [], [], []
    for _ in range(n):  # creation without a spare: the spare is background work, not latency
        dt, s = timed(lambda: new(runtime, warm_spares=False, files={"seed.txt": "x"}))
        creates.append(dt)
        s.close()
    s = new(runtime, files={"seed.txt": "x"})
    try:
        wait = getattr(s, "wait_for_spares", lambda: None)
        for i in range(n):  # an episode, then reset; the agent's thinking time lets the spare warm up
            wait()
            s.exec(f"echo {i} > out.txt && ls >/dev/null")
            dt, _ = timed(s.restore)
            resets_ready.append(dt)
            assert s.exec("ls").stdout == "seed.txt\n"
        for i in range(n):  # back to back: the spare may still be starting
            s.exec(f"echo {i} > out.txt")
            dt, _ = timed(s.restore)
            resets_b2b.append(dt)
        s.write_file("state.txt", "forked")
        for _ in range(n):
            dt, child = timed(s.fork)
            forks.append(dt)
            assert child.read_file("state.txt") == b"forked"
            child.close()
    finally:
        s.close()
    return {"create": timings(creates), "reset": timings(resets_ready), "reset_back_to_back": timings(resets_b2b),
            "fork": timings(forks)}


def _cgroup_mem(cid: str) -> dict[str, int] | None:
    base = Path("/sys/fs/cgroup/memory/docker") / cid
    if not base.exists():
        return None
    stat = dict(line.split() for line in (base / "memory.stat").read_text().splitlines())
    return {"usage": int((base / "memory.usage_in_bytes").read_text()), "rss": int(stat["total_rss"]),
            "cache": int(stat["total_cache"])}


def _shim_rss(cid: str) -> int:
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes()
            if b"containerd-shim" in cmd and cid.encode() in cmd:
                for line in Path(f"/proc/{name}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            continue
    return 0


def _tree_rss(pid: int) -> int:
    total, todo = 0, [pid]
    children: dict[int, list[int]] = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            data = Path(f"/proc/{name}/stat").read_bytes()
            children.setdefault(int(data[data.rfind(b")") + 2 :].split()[1]), []).append(int(name))
        except OSError:
            pass
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            total += next(int(x.split()[1]) * 1024 for x in Path(f"/proc/{p}/status").read_text().splitlines() if x.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total


def bench_memory(runtime: str, n: int = 8) -> dict[str, Any]:
    boxes = [new(runtime, warm_spares=False) for _ in range(n)]
    try:
        for b in boxes:
            b.exec("true")
        time.sleep(1)
        if runtime == "local":
            rss = [_tree_rss(b._channel._t.proc.pid) for b in boxes]  # type: ignore[attr-defined]
            return {"what": "RSS of the channel server + shell process tree", "per_sandbox_mib": round(statistics.mean(rss) / 2**20, 1)}
        mems = [_cgroup_mem(b.container_id) for b in boxes]  # type: ignore[attr-defined]
        shims = [_shim_rss(b.container_id) for b in boxes]  # type: ignore[attr-defined]
        if None in mems:
            return {"what": "unavailable (no cgroup v1 memory controller at /sys/fs/cgroup/memory/docker)"}
        mib = lambda key: round(statistics.mean(m[key] for m in mems) / 2**20, 1)  # type: ignore[index] # noqa: E731
        shim = round(statistics.mean(shims) / 2**20, 1)
        return {
            "what": "container cgroup v1 memory (rss, page cache, usage) + containerd-shim RSS, mean of idle containers",
            "containers": n, "cgroup_rss_mib": mib("rss"), "cgroup_cache_mib": mib("cache"),
            "cgroup_usage_mib": mib("usage"), "shim_rss_mib": shim, "per_sandbox_mib": round(mib("rss") + shim, 1),
            "note": "a sandbox with a warm spare holds two such containers",
        }
    finally:
        for b in boxes:
            b.close()


def bench_concurrency(runtime: str, n: int, commands: int, warm_spares: bool) -> dict[str, Any]:
    errors: list[str] = []

    def create() -> Sandbox | None:
        try:
            return new(runtime, warm_spares=warm_spares)
        except Exception as e:  # noqa: BLE001
            errors.append(f"create: {e}")
            return None

    def work(s: Sandbox) -> int:
        ok = 0
        for i in range(commands):
            try:
                r = s.exec(f"echo {i}")
                ok += r.stdout == f"{i}\n"
                if r.stdout != f"{i}\n":
                    errors.append(f"wrong output {r.stdout!r}")
            except Exception as e:  # noqa: BLE001
                errors.append(f"exec: {e}")
        return ok

    with ThreadPoolExecutor(max_workers=n) as pool:
        t_create, boxes = timed(lambda: list(pool.map(lambda _: create(), range(n))))
        live = [b for b in boxes if b is not None]
        # steady state: commands start once the background spares are up, not while they boot
        t_spares, _ = timed(lambda: [getattr(b, "wait_for_spares", lambda: None)() for b in live])
        t_run, oks = timed(lambda: list(pool.map(work, live)))
        t_close, _ = timed(lambda: list(pool.map(lambda b: b.close(), live)))
    left = 0
    if runtime == "docker":
        left = len(reaper.docker_client().api.containers(all=True, filters={"label": f"agentgym.run={reaper.RUN_ID}"}))
    else:
        import tempfile

        left = sum(1 for p in Path(tempfile.gettempdir()).glob(reaper.LOCAL_PREFIX + "*")
                   if f'"agentgym.pid": "{os.getpid()}"' in (p / "owner.json").read_text(errors="replace"))
    return {"sandboxes": n, "commands_each": commands, "warm_spares": warm_spares if runtime == "docker" else None, "create_s": round(t_create, 2), "spares_ready_s": round(t_spares, 2),
            "run_s": round(t_run, 2), "commands_per_s": round(sum(oks) / t_run, 1), "errors": len(errors),
            "first_errors": errors[:3], "close_s": round(t_close, 2), "left_behind": left}


def render(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    t = Table(title=f"agentgym sandbox benchmark ({result['runtime']})")
    for col in ("measure", "p50 ms", "p95 ms", "n / notes"):
        t.add_column(col)
    rt = result["roundtrip"]
    t.add_row("command round trip (channel)", str(rt["channel_echo"]["p50_ms"]), str(rt["channel_echo"]["p95_ms"]),
              f"{rt['channel_echo']['n']} via {rt.get('channel_transport', 'pipes')}")
    if "channel_echo_exec_stream" in rt:
        v = rt["channel_echo_exec_stream"]
        t.add_row("command round trip (channel, exec stream)", str(v["p50_ms"]), str(v["p95_ms"]), f"{v['n']} (fast path off)")
    if "docker_exec_echo" in rt:
        d = rt["docker_exec_echo"]
        t.add_row("command round trip (docker exec)", str(d["p50_ms"]), str(d["p95_ms"]), str(d["n"]))
        t.add_row("speedup (p50)", f"{rt['speedup_p50']}x", "", "")
    for key, label in (("create", "create (no spare)"), ("reset", "reset (spare ready)"),
                       ("reset_back_to_back", "reset (back to back)"), ("fork", "fork")):
        v = result["lifecycle"][key]
        t.add_row(label, str(v["p50_ms"]), str(v["p95_ms"]), str(v["n"]))
    mem = result["memory"]
    detail = (f" (cgroup rss {mem['cgroup_rss_mib']} + shim {mem['shim_rss_mib']}; page cache {mem['cgroup_cache_mib']})"
              if "shim_rss_mib" in mem else "")
    t.add_row("memory per idle sandbox", "", "", f"{mem.get('per_sandbox_mib')} MiB{detail}: {mem['what']}")
    for c in result["concurrency"]:
        t.add_row(f"{c['sandboxes']} concurrent x {c['commands_each']} cmds", "", "",
                  f"{c['commands_per_s']} cmd/s, errors {c['errors']}, left {c['left_behind']}, create {c['create_s']} s, close {c['close_s']} s")
    console.print(t)
    console.print(f"cpus {result['cpus']}, load average before {result['loadavg_before']}, after {result['loadavg_after']}")
    console.print("targets:", result["targets"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runtime", choices=["docker", "local"], default="docker")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    ap.add_argument("--iterations", type=int, default=500, help="channel round trips")
    ap.add_argument("--exec-iterations", type=int, default=100, help="docker exec round trips")
    ap.add_argument("--lifecycle", type=int, default=20, help="creates, resets and forks each")
    ap.add_argument("--concurrency", default="8,32,64")
    ap.add_argument("--commands", type=int, default=100, help="commands per sandbox in the concurrency runs")
    ap.add_argument("--no-spares", action="store_true", help="concurrency runs without warm spares")
    ap.add_argument("--roundtrip-only", action="store_true", help="only the command round trip (a quick before/after)")
    args = ap.parse_args()
    # the machine may be shared: load averages put the latencies in context
    result: dict[str, Any] = {"runtime": args.runtime, "run_id": reaper.RUN_ID, "cpus": os.cpu_count(),
                              "loadavg_before": [round(x, 2) for x in os.getloadavg()]}
    result["roundtrip"] = bench_roundtrip(args.runtime, args.iterations, args.exec_iterations)
    if args.roundtrip_only:
        result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result))
        return
    result["lifecycle"] = bench_lifecycle(args.runtime, args.lifecycle)
    result["memory"] = bench_memory(args.runtime)
    result["concurrency"] = [bench_concurrency(args.runtime, int(n), args.commands, not args.no_spares)
                             for n in args.concurrency.split(",")]
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    rt, lc = result["roundtrip"], result["lifecycle"]
    result["targets"] = {
        "channel_p50_le_1ms": rt["channel_echo"]["p50_ms"] <= 1.0,
        "speedup_ge_30x": rt.get("speedup_p50", 0) >= 30 if args.runtime == "docker" else None,
        "reset_p50_le_300ms": lc["reset"]["p50_ms"] <= 300,
        "concurrency_no_errors_none_left": all(c["errors"] == 0 and c["left_behind"] == 0 for c in result["concurrency"]),
    }
    if args.json:
        print(json.dumps(result))
    else:
        render(result)


if __name__ == "__main__":
    main()
