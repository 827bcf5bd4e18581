"""End to end in agentgym/swe-synth: the buggy tree fails FAIL_TO_PASS, the gold patch makes all pass.

Independent of the generator's pytest plugin: it runs each instance's own test_cmd and reads the
`-rA` summary lines, as a grader would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentgym.envs.swe.synth import load_instances, materialize
from agentgym.envs.swe.synth.projects import IMAGE
from agentgym.envs.swe.synth.snapshot import apply_patch

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _run(tree: Path, inst) -> str:  # noqa: ANN001
    from agentgym.sandbox import reaper

    from agentgym.images import ensure_image

    client = reaper.docker_client()
    ensure_image(IMAGE)  # built from images/swe-synth when missing
    c = client.containers.create(
        IMAGE, command=["bash", "-c", inst.test_cmd], working_dir="/testbed",
        environment={"PYTHONPATH": inst.pythonpath}, network_mode="none",
        volumes={str(tree): {"bind": "/testbed", "mode": "rw"}},
        labels={**reaper.owner_labels(), "agentgym.purpose": "swe-synth-test"},
    )
    reaper.track("container", c.id)
    try:
        c.start()
        c.wait(timeout=300)
        return c.logs().decode("utf-8", "replace")
    finally:
        reaper.remove_many("container", [c.id])


def _summary(log: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in log.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "ERROR", "SKIPPED"):
            out[rest.split(" - ", 1)[0]] = word
    return out


def test_two_instances_fail_then_pass_with_the_gold_patch(tmp_path: Path) -> None:
    instances = load_instances()
    picks = [instances[0], next(i for i in instances if i.repo != instances[0].repo)]
    for n, inst in enumerate(picks):
        tree = tmp_path / f"i{n}"
        materialize(inst, tree)
        buggy = _summary(_run(tree, inst))
        assert all(buggy.get(t) in ("FAILED", "ERROR") for t in inst.FAIL_TO_PASS), (inst.instance_id, buggy)
        assert all(buggy.get(t) == "PASSED" for t in inst.PASS_TO_PASS), inst.instance_id
        apply_patch(tree, inst.patch)
        fixed = _summary(_run(tree, inst))
        assert all(fixed.get(t) == "PASSED" for t in inst.FAIL_TO_PASS + inst.PASS_TO_PASS), inst.instance_id
