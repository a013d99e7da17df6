"""One version, in package.json: pyproject.toml reads it (hatch-nodejs-version) and the
build writes it into ``_version.py`` and the labextension; nothing else states it."""

from __future__ import annotations

import json
import re
import subprocess

from conftest import REPO

import jupyterlab_carto_auth

VERSION = json.loads((REPO / "package.json").read_text(encoding="utf-8"))["version"]


def test_pyproject_takes_the_version_from_package_json():
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    project = pyproject.split("\n[project]\n", 1)[1].split("\n[", 1)[0]
    assert not re.search(r"^version\s*=", project, re.MULTILINE)
    assert re.search(r'^dynamic = \[[^]]*"version"', project, re.MULTILINE)
    assert '[tool.hatch.version]\nsource = "nodejs"' in pyproject


def test_the_built_package_has_package_jsons_version():
    assert jupyterlab_carto_auth.__version__ == VERSION


def test_no_other_file_states_the_version():
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True, timeout=30
    ).stdout.split("\0")
    # A line that says "version" next to this version's number, but not an example
    # ``package_version`` of docs/protocol-*.json, or another package's in yarn.lock.
    states = re.compile(rf"version\W+v?{re.escape(VERSION)}\b", re.IGNORECASE)
    found = []
    for name in files:
        path = REPO / name
        if name in ("package.json", "yarn.lock") or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images
        found += [
            f"{name}:{number}"
            for number, line in enumerate(text.splitlines(), 1)
            if states.search(line) and "package_version" not in line
        ]
    assert found == []
