"""The Jupyter server extension: only what a browser cannot do alone.

Everything here runs in the Jupyter server and may import ``jupyter_server`` and
``tornado``; nothing outside this package may import it (``tests/test_layout.py``
checks), so the kernel side keeps importing without them.
"""

from .app import CartoAuthServer

__all__ = ["CartoAuthServer"]
