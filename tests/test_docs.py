"""The README documents every setting and environment variable the code has."""

from __future__ import annotations

import json
from pathlib import Path

from jupyterlab_carto_auth.config import API_TOKEN_VAR, ENV_VARS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_environment_variable_is_in_the_readme():
    missing = [v.name for v in ENV_VARS if f"`{v.name}`" not in README]
    assert missing == []
    assert f"| `{API_TOKEN_VAR}`" in README  # a row of the table, with the order below it
    assert "2. `CARTO_API_TOKEN` in the kernel's environment" in README


def test_every_lab_setting_is_in_the_readme():
    for schema in ("session.json", "statusbar.json"):
        properties = json.loads((ROOT / "schema" / schema).read_text())["properties"]
        missing = [name for name in properties if f"`{name}`" not in README]
        assert missing == [], schema


def test_readme_first_screen_has_the_two_commands():
    first_screen = README[:2500]
    assert "make demo" in first_screen
    assert "make test" in first_screen
    assert "docs/images/" in first_screen
