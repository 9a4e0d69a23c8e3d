"""Package metadata: ``photomatch.__version__``, the public API, the license."""

from __future__ import annotations

import importlib
import os
import re

import pytest

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


#: The public API: the three jobs, what they return, the policy, the errors,
#: the search kernel and the version.
PUBLIC = {
    "index_album",
    "match_album",
    "export_originals",
    "IndexReport",
    "MatchRun",
    "QueryResult",
    "Candidate",
    "SetInfo",
    "Skipped",
    "ExportItem",
    "Policy",
    "PhotomatchError",
    "UsageError",
    "DecodeError",
    "AlbumIndexError",
    "ExportError",
    "hamming_topk",
    "__version__",
}


def test_the_public_api_is_narrow_and_every_name_is_there():
    assert set(photomatch.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(photomatch, name) is not None
    from photomatch import results

    assert photomatch.MatchRun is results.MatchRun
    with pytest.raises(AttributeError):
        photomatch.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    "name, module",
    [
        ("AlbumIndex", "index"),
        ("AlbumArrays", "index"),
        ("WORDS", "hashing"),
        ("HASH_VERSION", "hashing"),
        ("hash_file", "hashing"),
        ("read_json", "results"),
        ("match", "matching"),
        ("hamming_distances", "_core"),
    ],
)
def test_former_top_level_names_still_resolve_with_a_warning(name, module):
    submodule = importlib.import_module(f"photomatch.{module}")
    with pytest.warns(DeprecationWarning, match=f"photomatch.{module}.{name}"):
        found = getattr(photomatch, name)
    assert found is getattr(submodule, name)
    assert name not in photomatch.__all__


def test_the_mit_license_is_at_the_top_and_declared():
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as fh:
        text = fh.read()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) the photomatch authors" in text
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as fh:
        pyproject = fh.read()
    # PEP 639: an SPDX expression, and the file that goes into the sdist and wheel.
    assert re.search(r'^license = "MIT"$', pyproject, re.M)
    assert re.search(r'^license-files = \["LICENSE"\]$', pyproject, re.M)
