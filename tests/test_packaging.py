"""The installed package registers the prebuilt lab extension and the server extension."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def _jupyter(*args: str) -> str:
    done = subprocess.run(
        [str(BIN / "jupyter"), *args], capture_output=True, text=True, timeout=120, check=True
    )
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)


def test_labextension_is_installed_enabled_and_ok():
    out = _jupyter("labextension", "list")
    assert re.search(
        r"jupyterlab-carto-auth v\S+ enabled OK \(python, jupyterlab-carto-auth\)", out
    )


def test_server_extension_is_enabled_and_valid():
    out = _jupyter("server", "extension", "list")
    assert re.search(r"jupyterlab_carto_auth enabled", out)
    assert re.search(r"jupyterlab_carto_auth \S+ OK", out)


def test_spanish_catalog_reaches_the_lab_through_the_locale_entry_point():
    # What the lab's /lab/api/translations/es_ES answers: the language pack's
    # catalogs plus every jupyterlab.locale package's, keyed by domain.
    from jupyterlab_server.translation_utils import get_language_pack

    data, message = get_language_pack("es_ES")
    assert message.strip() == ""
    catalog = data["jupyterlab_carto_auth"]
    assert catalog[""]["domain"] == "jupyterlab_carto_auth"
    assert catalog[""]["language"] == "es-ES"
    assert catalog["Sign in to CARTO"] == ["Iniciar sesión en CARTO"]
    assert catalog["%1 kernel without CARTO"] == ["%1 kernel sin CARTO", "%1 kernels sin CARTO"]
    # The JupyterLab pack itself is there too: the lab can switch to Spanish.
    assert "jupyterlab" in data


def test_spanish_catalog_ships_as_gettext_mo():
    import gettext
    from importlib.resources import files

    localedir = files("jupyterlab_carto_auth") / "locale"
    spanish = gettext.translation(
        "jupyterlab_carto_auth", localedir=str(localedir), languages=["es_ES"]
    )
    assert spanish.gettext("Sign out of CARTO") == "Cerrar sesión en CARTO"
    assert spanish.ngettext("%1 kernel without CARTO", "%1 kernels without CARTO", 2) == (
        "%1 kernels sin CARTO"
    )


def test_the_development_build_script_reads_its_arguments_as_meant():
    # `jlpm build` ends with it, and an editable install runs `jlpm build`:
    # jupyter-builder has both a --development flag and a --development=<bool>
    # option, so a bare `--development .` takes "." for the option's value.
    import json
    import shlex

    from jupyter_builder.extension_commands.build import BuildLabExtensionApp

    root = Path(__file__).resolve().parent.parent
    scripts = json.loads((root / "package.json").read_text(encoding="utf-8"))["scripts"]
    argv = shlex.split(scripts["build:labextension:dev"])
    assert argv[:2] == ["jupyter-builder", "build"]
    app = BuildLabExtensionApp()
    app.parse_command_line(argv[2:])
    assert app.development is True
    assert app.extra_args == ["."]
