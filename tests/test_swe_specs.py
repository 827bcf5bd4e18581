"""SWE-bench's twelve repositories built in: specs per version and log parsers from the swebench package.

Fast tests (no docker): every version swebench lists resolves to a spec and a parser; each parser reads
a recorded excerpt of its runner's output (tests/data/swe_logs/) into the statuses written here by
hand; user specs vary by version; the README's spec-field table is the model's.
"""

from __future__ import annotations

import pytest

from agentgym.envs.swe import swebench_specs
from agentgym.envs.swe.specs import RepoSpec, load_specs, spec_for

REPOS = swebench_specs.SWE_BENCH_REPOS


def test_the_twelve_repositories_are_swebench_s():
    from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS

    assert len(REPOS) == 12 and set(REPOS) <= set(MAP_REPO_VERSION_TO_SPECS)


@pytest.mark.parametrize("repo", REPOS)
def test_every_version_swebench_lists_resolves(repo):
    from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS

    listed = MAP_REPO_VERSION_TO_SPECS[repo]
    assert listed and swebench_specs.versions(repo) == list(listed)
    for version, theirs in listed.items():
        spec = spec_for(repo, version=version)
        assert spec.versions == {} and spec.python == theirs["python"]
        assert spec.log_parser == swebench_specs.parser_name(repo) != ""
        assert spec.conda_env == "testbed"
        if theirs.get("install"):
            assert spec.install[-1] == theirs["install"] and spec.install_before_tests
        assert set(theirs.get("pip_packages") or []) <= set(spec.pip)
        assert spec.eval_commands == list(theirs.get("eval_commands") or [])
        # the command runs the way swebench's does: its own words, or the pytest run behind tox
        expected = {"django/django": "django", "sympy/sympy": "sympy"}.get(repo, "pytest")
        assert spec.parser == expected
        if expected == "pytest":
            assert "pytest" in spec.test_cmd and spec.test_cmd.split()[0] in ("pytest", "python")
        else:
            assert spec.test_cmd in theirs["test_cmd"]


def test_specs_differ_by_version_as_swebench_s_do():
    old, new = spec_for("django/django", version="1.9"), spec_for("django/django", version="4.0")
    assert (old.python, new.python) == ("3.5", "3.8")
    assert any("locale" in c for c in old.install) and "en_US.UTF-8" in " ".join(old.eval_commands)
    assert new.eval_commands == [] and spec_for("django/django", version="3.0").eval_commands
    sympy = spec_for("sympy/sympy", version="1.9")
    assert sympy.test_cmd == "bin/test -C --verbose" and sympy.env["PYTHONWARNINGS"].startswith("ignore::")
    assert spec_for("sphinx-doc/sphinx", version="7.1").test_cmd == "python -m pytest -rA"
    assert spec_for("pytest-dev/pytest", version="5.4").isolate_runner is False


def test_an_unlisted_version_of_a_listed_repository_is_one_clear_error():
    with pytest.raises(ValueError, match=r"sympy/sympy: no spec for version '9\.9'.*'versions'"):
        spec_for("sympy/sympy", version="9.9")


def test_user_specs_vary_by_version_over_the_defaults():
    user = {"test_cmd": "python -m pytest -rA", "pip": ["attrs"],
            "versions": {1.0: {"pip": ["attrs<20"]}, "2.0": {"python": "3.12", "env": {"X": "1"}}}}
    assert spec_for("acme/calc", user, version="1.0").pip == ["attrs<20"]
    two = spec_for("acme/calc", user, version="2.0")
    assert (two.pip, two.python, two.env, two.test_cmd) == (["attrs"], "3.12", {"X": "1"}, "python -m pytest -rA")
    assert spec_for("acme/calc", user).versions.keys() == {"1.0", "2.0"}
    with pytest.raises(ValueError, match="no spec for version '3.0'"):
        spec_for("acme/calc", user, version="3.0")
    assert spec_for("acme/calc", {"pip": ["x"]}, version="3.0").pip == ["x"]  # no map: one spec for all


def test_user_fields_beat_the_built_in_version_entry():
    mine = spec_for("django/django", {"pip": ["mine"]}, version="3.0")
    assert mine.pip == ["mine"] and mine.parser == "django" and mine.python == "3.6"
    pinned = spec_for("django/django", {"versions": {"3.0": {"python": "3.11"}}}, version="3.0")
    assert pinned.python == "3.11" and pinned.install  # the rest of SWE-bench's entry stays
    as_model = spec_for("django/django", RepoSpec(test_timeout=60), version="3.0")
    assert as_model.test_timeout == 60 and as_model.parser == "django"  # only the fields set override


def test_load_specs_keeps_what_the_user_wrote_and_rejects_bad_fields(tmp_path):
    f = tmp_path / "specs.yaml"
    f.write_text("acme/calc:\n  pip: [attrs]\n  versions:\n    '1.0': {pip: [attrs<20]}\n")
    specs = load_specs(f)
    assert spec_for("acme/calc", specs["acme/calc"], version="1.0").pip == ["attrs<20"]
    f.write_text("acme/calc:\n  versions:\n    '1.0': {pipp: [x]}\n")
    with pytest.raises(ValueError, match="acme/calc.*pipp"):
        load_specs(f)


def test_official_image_conventions():
    spec = spec_for("astropy/astropy", version="5.0")
    assert spec.activation() == "if [ -f /opt/miniconda3/bin/activate ]; then . /opt/miniconda3/bin/activate testbed; fi; "
    assert RepoSpec().activation() == ""


def test_instances_carry_their_version():
    from agentgym.envs.swe.instance import SWEInstance

    row = {"repo": "a/b", "instance_id": "a__b-1", "base_commit": "0" * 40, "patch": "", "problem_statement": "x"}
    assert SWEInstance.model_validate({**row, "version": 3.0}).version == "3.0"
    assert SWEInstance.model_validate({**row, "version": "0.13"}).version == "0.13"
    assert SWEInstance.model_validate({**row, "version": None}).version == ""
