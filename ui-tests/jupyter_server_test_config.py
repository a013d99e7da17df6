"""Jupyter server configuration for the Galata UI tests (never for production)."""

import os

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821
c.ServerApp.allow_root = True  # noqa: F821
# launch.py passes the port it picked on the command line, which wins over this file.

# sandbox/launch.py --test names a log file: everything the server logs goes
# there at DEBUG (the console stays at launch.py's WARN), for the secrets scan
# of ui-tests/tests/secrets.spec.ts.
if os.environ.get("CARTO_TEST_SERVER_LOG"):
    c.Application.logging_config = {  # noqa: F821
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "level": "DEBUG",
                "filename": os.environ["CARTO_TEST_SERVER_LOG"],
                "formatter": "console",
            }
        },
        "loggers": {
            name: {"level": "DEBUG", "handlers": ["console", "file"]}
            for name in ("ServerApp", "LabApp")
        },
    }
