"""Package metadata: ``photomatch.__version__``."""

from __future__ import annotations

import os
import re

import photomatch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pyproject_version() -> str:
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as fh:
        text = fh.read()
    project = re.search(r"^\[project\]\n(.*?)(?=^\[)", text, re.M | re.S)
    assert project is not None, "pyproject.toml has no [project] table"
    found = re.search(r'^version\s*=\s*"([^"]+)"', project.group(1), re.M)
    assert found is not None, "pyproject.toml's [project] has no version"
    return found.group(1)


def test_version_is_pyprojects():
    assert photomatch.__version__ == _pyproject_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", photomatch.__version__)
