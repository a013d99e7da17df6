"""The README's install lines and the status item's advice for a kernel without the
package say the same thing (a change to one without the other fails here)."""

from __future__ import annotations

import re

from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
#: The distribution's name, from pyproject.toml's [project] table.
NAME = re.search(
    r'^\[project\]\nname = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE
).group(1)
#: The status item's text for a kernel whose environment lacks the package.
MISSING = re.compile(r"'Kernel %1 cannot get the CARTO session: ([^']+)'")


def _plain(markdown: str) -> str:
    """Markdown as read: no emphasis or code marks, one space between words."""
    return " ".join(re.sub(r"[`_*]", "", markdown).split())


def _status_advice() -> str:
    found = {
        match
        for path in sorted((REPO / "src").rglob("*.ts*"))
        if "__tests__" not in path.parts
        for match in MISSING.findall(path.read_text(encoding="utf-8"))
    }
    assert len(found) == 1, found
    return found.pop()


def test_the_status_item_advice_is_the_readmes():
    advice = _status_advice()
    assert f"%pip install {NAME} in a cell" in advice
    install = README[README.index("## Install") : README.index("## Demo and tests")]
    assert advice in _plain(install)


def test_the_readme_shows_the_user_install_first_then_the_two_developer_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)
    assert [block.strip() for block in blocks[:3]] == [
        f"pip install {NAME}",
        "make demo",
        "make test",
    ]
    first_screen = README[:2500]
    assert "make test" in first_screen
    assert "kernel environment" in first_screen
