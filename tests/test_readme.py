"""The README's Python API snippet runs as written, on a real album."""

from __future__ import annotations

import os
import re

import photomatch

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def api_snippet() -> str:
    with open(README, encoding="utf-8") as fh:
        text = fh.read()
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_python_api_snippet_runs(sample, tmp_path, capsys, monkeypatch):
    # The snippet's folders, relative to a working folder: /photos is the album.
    monkeypatch.chdir(tmp_path)
    os.makedirs("thumbs")
    os.symlink(sample.thumb_sets[0], "thumbs/prints")
    code = api_snippet().replace('"/photos"', repr(sample.album))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the default index's home
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    run = namespace["run"]
    assert isinstance(run, photomatch.MatchRun)
    assert len(printed) == len(run.results) > 0
    assert os.path.isfile("results/matches.csv")
    assert os.listdir("for-the-lab")  # the originals were exported
    assert namespace["idx"].tolist() == [[0, 1]]
    assert namespace["dist"].tolist() == [[1, 32]]
