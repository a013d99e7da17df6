"""Jupyter server configuration for the Galata UI tests (never for production)."""

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821
c.ServerApp.allow_root = True  # noqa: F821
# launch.py passes the port it picked on the command line, which wins over this file.
