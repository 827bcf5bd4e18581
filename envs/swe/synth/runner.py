"""Run a project's tests on a tree inside agentgym/swe-synth:latest (docker SDK) and read the outcomes.

The tree is bind-mounted at /testbed; the container has no network, bounded memory and pids, the
agentgym owner labels (so `agentgym gc` and this process's exit handlers reap it) and is always
removed. Outcomes come from a small pytest plugin (plugin/synth_report.py, mounted read-only outside
/testbed) and are cross-checked against the `-rA` summary lines the grader will parse.
"""

from __future__ import annotations

import json
import shlex
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, Field

from agentgym.envs.swe.synth.projects import IMAGE, Project, SynthError

PLUGIN_DIR = Path(__file__).resolve().parent / "plugin"
RUN_TIMEOUT_S = 120
SUMMARY_PREFIXES = ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS")


class TestRun(BaseModel):
    """The outcome of one pytest run in a container."""

    __test__ = False  # not a pytest test class

    outcomes: dict[str, str] = Field(description="node id -> passed/failed/error/skipped/xfailed/xpassed")
    messages: dict[str, str] = Field(default_factory=dict, description="node id -> crash message (failures)")
    collect_errors: list[str] = Field(default_factory=list)
    exit_code: int
    log: str
    seconds: float
    timed_out: bool = False

    def with_outcome(self, *outcomes: str) -> set[str]:
        return {t for t, o in self.outcomes.items() if o in outcomes}

    def summary_lines(self) -> set[str]:
        """The `-rA` short-summary lines (what a grader parses), without their ' - message' tails."""
        return {ln.rstrip() for ln in self.log.splitlines() if ln.startswith(SUMMARY_PREFIXES)}


def run_tests(tree: Path, project: Project, test_files: list[str], timeout: int = RUN_TIMEOUT_S) -> TestRun:
    """Run `project.test_cmd <test_files>` from /testbed on `tree` in a fresh container."""
    from agentgym.sandbox import reaper

    client = reaper.docker_client()
    cmd = project.command([shlex.quote(f) for f in test_files]) + " -p synth_report"
    pythonpath = ":".join([*(project.pythonpath.split(":") if project.pythonpath else []), "/opt/synth-plugin"])
    with tempfile.TemporaryDirectory(prefix="synth-out-") as out:
        Path(out).chmod(0o777)
        started = time.monotonic()
        container = client.containers.create(
            IMAGE,
            command=["bash", "-c", cmd],
            working_dir="/testbed",
            environment={"PYTHONPATH": pythonpath, "SYNTH_REPORT": "/opt/synth-out/report.json",
                         "PYTHONDONTWRITEBYTECODE": "1", "HYPOTHESIS_STORAGE_DIRECTORY": "/tmp/.hypothesis"},
            volumes={
                str(Path(tree).resolve()): {"bind": "/testbed", "mode": "rw"},
                str(PLUGIN_DIR): {"bind": "/opt/synth-plugin", "mode": "ro"},
                out: {"bind": "/opt/synth-out", "mode": "rw"},
            },
            network_mode="none",
            mem_limit="1g",
            pids_limit=512,
            labels={**reaper.owner_labels(), "agentgym.purpose": "swe-synth-generate"},
        )
        reaper.track("container", container.id)
        timed_out = False
        try:
            container.start()
            try:
                status = container.wait(timeout=timeout)
                exit_code = int(status.get("StatusCode", -1))
            except Exception:  # noqa: BLE001 - requests' ReadTimeout: the run hung
                timed_out, exit_code = True, -1
            log = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        finally:
            reaper.remove_many("container", [container.id])
        seconds = time.monotonic() - started
        report_path = Path(out) / "report.json"
        if not report_path.is_file():
            return TestRun(outcomes={}, exit_code=exit_code, log=log, seconds=seconds, timed_out=timed_out,
                           collect_errors=["<no report: pytest did not finish>"])
        report = json.loads(report_path.read_text())
    return TestRun(
        outcomes={k: v["outcome"] for k, v in report["tests"].items()},
        messages={k: v["message"] for k, v in report["tests"].items() if v["message"]},
        collect_errors=report["collect_errors"],
        exit_code=exit_code,
        log=log,
        seconds=seconds,
        timed_out=timed_out,
    )


def check_image() -> None:
    """Fail with what to do when the image is missing."""
    from agentgym.sandbox import reaper

    import docker.errors

    try:
        reaper.docker_client().images.get(IMAGE)
    except docker.errors.ImageNotFound:
        raise SynthError(f"{IMAGE} is missing: run `agentgym images build swe-synth`") from None
