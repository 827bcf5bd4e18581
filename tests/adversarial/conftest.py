"""Fixtures shared by the adversarial modules: envs that cost seconds to start are made once."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def web_quiz_env(tmp_path_factory):
    """The quiz site and MiniWoB's pages in one local WebEnv (web_quiz.py), for every web attack module."""
    from tests.adversarial.web_quiz import quiz_web_env

    with quiz_web_env(tmp_path_factory.mktemp("quiz")) as env:
        yield env
