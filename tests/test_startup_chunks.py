"""The installed lab extension's start-up chunks: what JupyterLab loads before anything
is used (the federation entry, the `./extension` and `./style` modules) stays out of
the bridge, the protocol, the grants, the dialogs, OIDC and YAML, and within figure 6's
budget (bench/README.md). Read from the real build the wheel installed."""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path

import pytest

LABEXTENSION = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyterlab-carto-auth"
# A guard against growth, not the target: issue 10's target for start-up JS is
# 15 KiB gz (bench figure 6). The profiles (several accounts) put the profile
# manager and the notebook bindings in the start-up chunk: 19.0 KiB gz
# measured, the target missed, reported in bench/README.md; loading the
# profile manager only once a second profile exists would win it back.
BUDGET_GZIP_BYTES = 20 * 1024

# A string only each lazily loaded part holds (src/ files in brackets).
LAZY_MARKERS = {
    "kernel bridge (kernels.ts)": "_carto_auth_os_path",
    "protocol validation (protocol.ts)": "unsupported_version",
    "grants (access.ts)": "jupyterlab-carto-auth:kernel-access:",
    "dialogs (dialogs.tsx)": "Allow access to your CARTO account?",
    "dialog styles (style/dialogs.css)": ".jp-CartoAuth-paste",
    "oidc-client-ts": "response_type",
    "js-yaml": "YAMLException",
    "settings messages (settingproblems.ts)": "Failed validating",
}


def _static() -> Path:
    return LABEXTENSION / "static"


def _entry() -> Path:
    meta = json.loads((LABEXTENSION / "package.json").read_text())
    return LABEXTENSION / meta["jupyterlab"]["_build"]["load"]


def _chunk(chunk_id: str) -> Path:
    found = list(_static().glob(f"{chunk_id}.*.js"))
    assert len(found) == 1, f"chunk {chunk_id}: {found}"
    return found[0]


def _exposed_chunks(entry: str, module: str) -> list[str]:
    """The chunks the federation entry loads for an exposed module."""
    match = re.search(re.escape(f'"{module}":()=>') + r"(.*?)\.then\(", entry)
    assert match, f"{module} not found in the federation entry"
    chunks = re.findall(r"\.e\((\d+)\)", match.group(1))
    assert chunks, f"{module} loads no chunk: {match.group(1)}"
    return chunks


@pytest.fixture(scope="module")
def startup() -> dict[str, bytes]:
    entry = _entry()
    text = entry.read_text()
    files = {entry.name: entry.read_bytes()}
    for module in ("./extension", "./style"):
        for chunk_id in _exposed_chunks(text, module):
            path = _chunk(chunk_id)
            files[path.name] = path.read_bytes()
    return files


def test_startup_is_the_entry_and_one_chunk_each_for_extension_and_style(startup):
    assert len(startup) == 3, sorted(startup)


@pytest.mark.parametrize("part", sorted(LAZY_MARKERS))
def test_lazy_part_is_built_but_not_loaded_at_startup(startup, part):
    marker = LAZY_MARKERS[part].encode()
    # The marker names the part: it is in the build ...
    holders = [p.name for p in _static().glob("*.js") if marker in p.read_bytes()]
    assert holders, f"{part}: marker {marker!r} is nowhere in the build"
    # ... and in no chunk that start-up loads.
    assert not [name for name in holders if name in startup], f"{part} loads at start-up"


def test_startup_gzip_is_within_the_budget(startup):
    sizes = {name: len(gzip.compress(body, 9)) for name, body in startup.items()}
    assert sum(sizes.values()) <= BUDGET_GZIP_BYTES, sizes
