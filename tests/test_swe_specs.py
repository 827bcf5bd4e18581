"""SWE-bench's twelve repositories built in: specs per version and log parsers from the swebench package.

Fast tests (no docker): every version swebench lists resolves to a spec and a parser; each parser reads
a recorded excerpt of its runner's output (tests/data/swe_logs/) into the statuses written here by
hand; user specs vary by version; the README's spec-field table is the model's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agentgym.envs.swe import swebench_specs
from agentgym.envs.swe.log_parsers import TEXT_PARSERS, LogParseError
from agentgym.envs.swe.specs import RepoSpec, load_specs, spec_for
from agentgym.envs.swe.swebench_parsers import name_tests, parse_log, parser

REPOS = swebench_specs.SWE_BENCH_REPOS


def test_the_twelve_repositories_are_swebench_s():
    assert len(REPOS) == 12 and set(REPOS) <= set(swebench_specs.tables().specs)


def test_what_is_read_from_swebench_s_files_is_what_its_package_holds():
    """The tables are read from swebench's files without its heavy package imports; a fresh process
    compares them with the ordinary import (specs, parsers, directives), and sees sys.modules left clean."""
    code = """
import sys
from agentgym.envs.swe import swebench_specs
from agentgym.envs.swe.specs import spec_for
t = swebench_specs.tables()
assert not [m for m in sys.modules if m.startswith("swebench")] and "datasets" not in sys.modules
from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS, MAP_REPO_TO_REQS_PATHS, NON_TEST_EXTS
from swebench.harness.log_parsers import MAP_REPO_TO_PARSER
from swebench.harness.test_spec.python import get_test_directives
assert t.specs == MAP_REPO_VERSION_TO_SPECS and t.reqs_paths == MAP_REPO_TO_REQS_PATHS
assert t.non_test_exts == tuple(NON_TEST_EXTS)
assert {r: f.__name__ for r, f in t.parsers.items()} == {r: MAP_REPO_TO_PARSER[r].__name__ for r in t.parsers}
files = ["tests/model_fields/tests.py", "tests/model_fields/fixtures/data.json", "tests/admin_views/test_forms.py"]
patch = "".join(f"diff --git a/{f} b/{f}\\n--- a/{f}\\n+++ b/{f}\\n@@ -0,0 +1 @@\\n+x\\n" for f in files)
for repo in ("django/django", "sympy/sympy", "psf/requests"):
    assert spec_for(repo).test_args(files) == get_test_directives({"repo": repo, "test_patch": patch}), repo
print("same")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "same", out.stderr[-2000:]


@pytest.mark.parametrize("repo", REPOS)
def test_every_version_swebench_lists_resolves(repo):
    listed = swebench_specs.tables().specs[repo]
    assert listed and swebench_specs.versions(repo) == list(listed)
    for version, theirs in listed.items():
        spec = spec_for(repo, version=version)
        assert spec.versions == {} and spec.python == theirs["python"]
        assert spec.log_parser == swebench_specs.parser_name(repo) != ""
        assert callable(parser(spec.log_parser))
        assert spec.conda_env == "testbed"
        if theirs.get("install"):
            assert spec.install[-1] == spec.reinstall[0] == theirs["install"]
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
    assert RepoSpec().activation() == RepoSpec().prelude() == ""


def test_the_prelude_runs_in_the_test_shell_and_never_stops_the_tests(tmp_path):
    import subprocess

    log = tmp_path / "prelude.log"
    spec = RepoSpec(conda_env="testbed", eval_commands=["export AGY_LANG=en_US.UTF-8", "echo step; false"],
                    reinstall=["echo reinstalled"])
    out = subprocess.run(["bash", "-c", spec.prelude(str(log)) + 'echo "tests see $AGY_LANG"'],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout == "tests see en_US.UTF-8\n"  # no conda here: activation skipped; exports kept
    assert log.read_text() == "step\nreinstalled\n"
    assert "reinstalled" not in spec.prelude(str(log), reinstall=False)  # the pytest grader runs it on its own


def test_instances_carry_their_version():
    from agentgym.envs.swe.instance import SWEInstance

    row = {"repo": "a/b", "instance_id": "a__b-1", "base_commit": "0" * 40, "patch": "", "problem_statement": "x"}
    assert SWEInstance.model_validate({**row, "version": 3.0}).version == "3.0"
    assert SWEInstance.model_validate({**row, "version": "0.13"}).version == "0.13"
    assert SWEInstance.model_validate({**row, "version": None}).version == ""


# -- log parsers: one recorded excerpt per repository -------------------------------------------

LOGS = Path(__file__).parent / "data" / "swe_logs"
P, F, E, S, X = "PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL"
#: repo -> (the statuses SWE-bench's parser must read from the excerpt, by the names it gives them;
#:          {that name: the node id our supervised pytest run reports} where the two differ)
EXPECTED: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "astropy/astropy": ({"astropy/io/fits/tests/test_header.py::test_shallow_copy": P,
                         "astropy/io/fits/tests/test_header.py::TestHeaderFunctions::test_rename_keyword": F,
                         "astropy/io/fits/tests/test_header.py::TestHeaderFunctions::test_card_from_bytes": P}, {}),
    "django/django": ({"test_check (model_fields.tests.ChoicesTests)": P,
                       "A translated display value is coerced to str.": P,  # a docstring names the test
                       "test_overriding_FIELD_display (model_fields.tests.GetFieldDisplayTests)": F,
                       "test_iterator_choices (model_fields.tests.GetFieldDisplayTests)": S,
                       "test_empty_iterator_choices (model_fields.tests.GetFieldDisplayTests)": P,
                       "test_invalid_value (model_fields.tests.ValidationTests)": E}, {}),
    "matplotlib/matplotlib": ({"lib/matplotlib/tests/test_widgets.py::test_span_selector_direction[1]": P,
                               "lib/matplotlib/tests/test_widgets.py::test_rectangle_drag[True-new_center0]": P,
                               "lib/matplotlib/tests/test_widgets.py::test_span_selector_onselect[True]": F,
                               "lib/matplotlib/tests/test_axes.py::test_formatter_ticker[png]": P},
                              {"lib/matplotlib/tests/test_widgets.py::test_span_selector_direction[1]":
                               "lib/matplotlib/tests/test_widgets.py::test_span_selector_direction[MouseButton.LEFT]"}),
    "mwaskom/seaborn": ({"tests/_core/test_plot.py::TestInit::test_empty": P,
                         "tests/_core/test_plot.py::TestScaling::test_inference[x-y]": P,
                         "tests/_core/test_plot.py::TestScaling::test_inference_joins": F}, {}),
    "pallets/flask": ({"tests/test_blueprints.py::test_blueprint_url_defaults": P,
                       "tests/test_blueprints.py::test_empty_name_not_allowed": X,
                       "tests/test_blueprints.py::test_dotted_name_not_allowed": F}, {}),
    "psf/requests": ({"test_requests.py::TestRequests::test_invalid_url[InvalidURL-http://]": P,
                      "test_requests.py::TestRequests::test_certificate[/ca.pem]": P,  # a path option: its last part
                      "test_requests.py::TestRequests::test_proxy_url[//proxy.example.com]": P,
                      "test_requests.py::TestRequests::test_header_remove_is_case_insensitive": F},
                     {"test_requests.py::TestRequests::test_certificate[/ca.pem]":
                      "test_requests.py::TestRequests::test_certificate[/tmp/pytest-of-root/pytest-0/test_certificate0/ca.pem]"}),
    "pydata/xarray": ({"xarray/tests/test_coding_times.py::test_cf_datetime[10": P,  # cut at the first space
                       "xarray/tests/test_coding_times.py::test_decode_cf[gregorian]": P,
                       "xarray/tests/test_coding_times.py::test_decode_cf_datetime_overflow": F},
                      {"xarray/tests/test_coding_times.py::test_cf_datetime[10":
                       "xarray/tests/test_coding_times.py::test_cf_datetime[10 days since 2000-01-01-standard]"}),
    "pylint-dev/pylint": ({"tests/test_functional.py::test_functional[recursion_error_3152]": P,
                           "tests/lint/unittest_lint.py::test_expand_modules[/mymodule.py]": P,
                           "tests/test_functional.py::test_functional[unused_variable]": F},
                          {"tests/lint/unittest_lint.py::test_expand_modules[/mymodule.py]":
                           "tests/lint/unittest_lint.py::test_expand_modules[/tmp/pytest-of-root/pytest-3/"
                           "test_expand_modules0/mymodule.py]"}),
    "pytest-dev/pytest": ({"testing/test_skipping.py::TestEvaluator::test_no_marker": P,
                           "testing/test_skipping.py::test_skip_not_report_default": P,
                           "testing/test_skipping.py::TestXFail::test_xfail_run_anyway": F}, {}),
    "scikit-learn/scikit-learn": ({"sklearn/linear_model/tests/test_ridge.py::test_ridge": P,  # behind a colour code
                                   "sklearn/linear_model/tests/test_ridge.py::test_ridge_cv_normalize[True-auto]": P,
                                   "sklearn/linear_model/tests/test_ridge.py::test_ridge_classifier_cv_store_cv_values": F},
                                  {}),
    "sphinx-doc/sphinx": ({"tests/test_ext_autodoc_configs.py::test_autoclass_content_class": P,
                           "tests/test_ext_autodoc_configs.py::test_autodoc_typehints_description": F}, {}),
    "sympy/sympy": ({"test_add_eval": P, "test_symbol_name": P, "test_broken_equality": F, "test_raises_error": E}, {}),
}
#: what only our hardened text parsers read: the last test of a sympy file, its XFAILs and skips
OURS_ONLY = {"sympy/sympy": {"test_function": P, "test_last_in_file": P, "test_known_bug": X, "test_skipped": S,
                             "test_slow_one": S},
             "django/django": {"test_get_FIELD_display_translated (model_fields.tests.GetFieldDisplayTests)": P}}


def _log(repo: str) -> str:
    return (LOGS / f"{repo.replace('/', '__')}.log").read_text()


def test_every_repository_has_an_excerpt():
    assert sorted(EXPECTED) == sorted(REPOS)
    assert sorted(p.stem for p in LOGS.glob("*.log")) == sorted(r.replace("/", "__") for r in REPOS)


@pytest.mark.parametrize("repo", REPOS)
def test_swebench_s_parser_reads_the_excerpt(repo):
    spec = spec_for(repo, version=swebench_specs.versions(repo)[-1])
    got = parse_log(spec.log_parser, _log(repo))
    expected = EXPECTED[repo][0]
    assert {t: got.get(t) for t in expected} == expected


@pytest.mark.parametrize("repo", [r for r in REPOS if spec_for(r).parser == "pytest"])
def test_our_run_s_node_ids_get_swebench_s_names(repo):
    """The grader's pytest outcomes (node ids from trusted records) named as the dataset names them."""
    expected, renamed = EXPECTED[repo]
    records = {renamed.get(t, t): s for t, s in expected.items()}
    assert set(renamed) <= set(expected)
    named = name_tests(spec_for(repo).log_parser, records)
    assert {t: named.get(t) for t in expected} == expected


@pytest.mark.parametrize("repo", ["django/django", "sympy/sympy"])
def test_our_text_parsers_read_the_excerpt_as_swebench_names_it(repo):
    spec = spec_for(repo)
    ours = TEXT_PARSERS[spec.parser](_log(repo), 1)
    want = {**EXPECTED[repo][0], **OURS_ONLY[repo]}
    assert {t: ours.get(t) for t in want} == want


def test_our_text_parsers_still_refuse_forged_lines():
    forged = _log("sympy/sympy").replace("test_broken_equality F", "test_broken_equality ok\ntest_forged ok")
    with pytest.raises(LogParseError, match="forged"):
        TEXT_PARSERS["sympy"](forged, 1)
    extra = _log("django/django").replace("test_check (model_fields.tests.ChoicesTests) ... ok",
                                           "test_check (model_fields.tests.ChoicesTests) ... ok\n"
                                           "test_new (model_fields.tests.ChoicesTests) ... ok")
    with pytest.raises(LogParseError, match="forged"):
        TEXT_PARSERS["django"](extra, 1)


@pytest.mark.parametrize("repo, real, printed", [
    ("django/django", "test_overriding_FIELD_display (model_fields.tests.GetFieldDisplayTests) ... FAIL",
     "test_overriding_FIELD_display (model_fields.tests.GetFieldDisplayTests) ... ok\nFAIL"),
    ("sympy/sympy", "test_broken_equality F", "test_broken_equality ok\nF"),
])
def test_a_test_that_prints_its_own_ok_does_not_pass(repo, real, printed):
    """The code under test prints 'ok' where the runner writes the status; the runner's own verdict then
    stands alone on the next line. Another test still fails, so the exit code alone cannot tell."""
    log = _log(repo)
    assert real in log
    with pytest.raises(LogParseError, match="status lines of no test: forged"):
        TEXT_PARSERS[spec_for(repo).parser](log.replace(real, printed), 1)


def test_sympy_exit_code_must_agree_with_the_results():
    with pytest.raises(LogParseError, match="bin/test exited 0"):
        TEXT_PARSERS["sympy"](_log("sympy/sympy"), 0)


# -- envs/swe/README.md ---------------------------------------------------------------------------

README = Path(__file__).parent.parent / "envs" / "swe" / "README.md"


def test_readme_field_table_is_the_model_s():
    from agentgym.envs.swe.specs import spec_fields_markdown

    text = README.read_text()
    shown = text.split("<!-- spec-fields:start -->\n", 1)[1].split("<!-- spec-fields:end -->", 1)[0]
    assert shown == spec_fields_markdown(), "regenerate the table with spec_fields_markdown()"


def test_readme_example_spec_loads_and_varies_by_version():
    import yaml

    text = README.read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = load_specs(yaml.safe_load(example))["acme/calc"]
    assert spec_for("acme/calc", spec, version="1.0").pip == ["attrs<21", "pytest-mock"]
    two = spec_for("acme/calc", spec, version="2.0")
    assert two.test_timeout == 300 and two.pip == ["attrs", "pytest-mock"] and two.env == {"CALC_STRICT": "1"}


def test_test_arguments_are_swebench_s_directives():  # and the same as get_test_directives: see above
    files = ["tests/model_fields/tests.py", "tests/model_fields/fixtures/data.json", "tests/admin_views/test_forms.py"]
    assert spec_for("django/django").test_args(files) == ["model_fields.tests", "admin_views.test_forms"]
    theirs = ["tests/model_fields/tests.py", "tests/admin_views/test_forms.py"]
    assert spec_for("sympy/sympy").test_args(files) == theirs
    assert spec_for("psf/requests").test_args([*files, "docs/api.rst", "tests/__init__.pyi"]) == theirs
    assert RepoSpec().test_args(["tests/unit", "tests/a.py::test_x", "tests/b.json"]) == ["tests/unit", "tests/a.py::test_x"]


def test_the_grader_takes_python_from_the_official_images_conda_env():
    """In an image with SWE-bench's layout the tests' python (and the plugins it lists) is the conda env's."""
    from agentgym.envs.swe import grading
    from agentgym.sandbox.base import CommandResult

    class Official:  # answers like an official image: conda's python once the env is activated
        def __init__(self):
            self.commands: list[str] = []

        def exec(self, command: str, timeout: float = 0) -> CommandResult:
            self.commands.append(command)
            if "command -v" in command:
                ok = command.startswith("if [ -f /opt/miniconda3/bin/activate ]; then . /opt/miniconda3/bin/activate testbed")
                return CommandResult(command=command, exit_code=0,
                                     stdout="/opt/miniconda3/envs/testbed/bin/python3\n" if ok else "/usr/bin/python3\n")
            return CommandResult(command=command, exit_code=0, stdout='["pytest_astropy_header"]\n')

    sbx = Official()
    spec = spec_for("astropy/astropy", version="5.0")
    py = grading._interpreter(sbx, None, spec, "docker")  # type: ignore[arg-type]
    assert py.exe == "/opt/miniconda3/envs/testbed/bin/python3" and py.plugins == ["pytest_astropy_header"]
    assert "/opt/miniconda3/envs/testbed/bin/python3 -I -c" in sbx.commands[-1]
    plain = grading._interpreter(Official(), None, RepoSpec(), "docker")  # type: ignore[arg-type]
    assert plain.exe == "python3"


def test_without_swebench_the_known_defaults_apply(monkeypatch):
    monkeypatch.setattr(swebench_specs, "_tables", lambda: None)
    django = spec_for("django/django", version="3.0")
    assert (django.parser, django.log_parser, django.python) == ("django", "", "")
    with pytest.raises(swebench_specs.SwebenchMissing, match=r"pip install 'agentgym\[swe\]'"):
        swebench_specs.versions("django/django")


def test_tables_loaded_by_many_threads_at_once_are_whole_in_every_one():
    """A sweep's threads ask for swebench's tables at once: the file loader's stub modules in
    sys.modules made a second loader's ordinary import fail half-way (a circular import), and its
    None could be what the cache kept. Fresh interpreter: swebench not imported yet."""
    code = """
import logging, threading
from agentgym.envs.swe import swebench_specs as s
logging.basicConfig()
got, gate = [], threading.Barrier(8)
def ask():
    gate.wait()
    got.append(s._tables())
ts = [threading.Thread(target=ask) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print(sum(g is not None for g in got), s._tables() is not None)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["8", "True"] and "cannot be imported" not in out.stderr, (out.stdout, out.stderr)
