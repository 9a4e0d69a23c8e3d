"""The package type-checks: ``mypy --strict -p photomatch`` reports nothing.

pyproject's ``[tool.mypy]`` points mypy at ``python/`` (this tree, not an
installed copy). mypy's cache (``.mypy_cache`` at the repository root) makes
every run after the first take a few seconds.
"""

from __future__ import annotations

import os

import mypy.api

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_package_passes_mypy_strict():
    stdout, stderr, status = mypy.api.run(
        [
            "--strict",
            "--config-file",
            os.path.join(ROOT, "pyproject.toml"),
            "--cache-dir",
            os.path.join(ROOT, ".mypy_cache"),
            "-p",
            "photomatch",
        ]
    )
    assert status == 0, f"mypy --strict -p photomatch:\n{stdout}{stderr}"
