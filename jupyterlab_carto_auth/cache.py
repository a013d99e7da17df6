"""Owner-only, atomically written cache of access tokens.

One file per (kind, token URL, API base URL, organization, client id): a
different credentials file, organization or identity provider never gets
another's token. Directory 0700, files 0600, written to a temporary file in
the same directory and moved into place. A file that cannot be used is
ignored with a warning that does not show its content. A symbolic link at the
cache path, or a file there that another user owns, is refused with a
``CredentialsError`` (reading and writing): a ``cache_filepath`` in a shared
folder must not hand this kernel another account's token or write elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import CredentialsError
from .secret import Token

CACHE_VERSION = 1
APP_DIR_NAME = "jupyterlab-carto-auth"


class CacheWarning(UserWarning):
    """The token cache could not be read or written; the token is fetched anew."""


@dataclass(frozen=True)
class CacheKey:
    """What a cached token belongs to."""

    kind: str  # "m2m" or "oauth"
    token_url: str
    api_base_url: str | None
    org: str | None
    client_id: str

    def digest(self) -> str:
        parts = [
            self.kind,
            self.token_url,
            self.api_base_url or "",
            self.org or "",
            self.client_id,
        ]
        return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


def default_cache_dir(environ: dict[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/jupyterlab-carto-auth``, else ``~/.cache/jupyterlab-carto-auth``."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / APP_DIR_NAME


def _make_private_dir(directory: Path, tighten: bool) -> None:
    """Create ``directory`` 0700 if missing; with ``tighten``, also chmod an existing one."""
    if not directory.is_dir():
        directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            pass
        else:
            os.chmod(directory, 0o700)  # mkdir's mode is subject to the umask
            return
    if tighten and os.name == "posix":
        st = directory.stat()
        if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.getuid():
            os.chmod(directory, 0o700)


@dataclass(frozen=True)
class CacheEntry:
    """What a cache file holds: the token, a refresh token if any, extra fields."""

    token: Token
    refresh_token: str | None = field(default=None, repr=False)
    extras: dict[str, Any] = field(default_factory=dict)


class TokenCache:
    """The cache file of one ``CacheKey``.

    ``path`` overrides the default location (carto-auth's ``cache_filepath``);
    its directory is created 0700 if missing but an existing one is left alone.
    """

    def __init__(self, key: CacheKey, path: str | os.PathLike[str] | None = None):
        self.key = key
        self._default_location = path is None
        if path is None:
            self.path = default_cache_dir() / f"{key.digest()}.json"
        else:
            self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"TokenCache(path={str(self.path)!r})"

    def load(self) -> Token | None:
        """The cached token for this key, or ``None`` (missing, unusable or someone else's)."""
        entry = self.load_entry()
        return None if entry is None else entry.token

    def load_entry(self) -> CacheEntry | None:
        """The cached token with its refresh token and extra fields, or ``None``."""
        try:
            raw = self._read_own_file()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._warn(f"cannot be read ({exc.strerror or type(exc).__name__})")
            return None
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            self._warn("is not valid JSON")
            return None
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            self._warn(f"is not a version {CACHE_VERSION} token cache file")
            return None
        token, expires_at = data.get("access_token"), data.get("expires_at")
        if (
            not isinstance(token, str)
            or not token
            or isinstance(expires_at, bool)
            or not isinstance(expires_at, (int, float))
        ):
            self._warn("has no valid access_token and expires_at")
            return None
        if any(data.get(name) != value for name, value in self._metadata().items()):
            return None  # another account's token (an explicit path shared by two)
        refresh = data.get("refresh_token")
        extras = data.get("extras")
        return CacheEntry(
            token=Token(access_token=token, expires_at=float(expires_at)),
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            extras=extras if isinstance(extras, dict) else {},
        )

    def save(
        self,
        token: Token,
        *,
        refresh_token: str | None = None,
        extras: dict[str, Any] | None = None,
    ) -> None:
        """Write the token atomically with mode 0600; a failure only warns.

        ``refresh_token`` and ``extras`` (JSON values, such as a discovered API
        base URL) are stored too when given.
        """
        data: dict[str, Any] = {
            "version": CACHE_VERSION,
            "access_token": token.access_token,
            "expires_at": token.expires_at,
            **self._metadata(),
        }
        if refresh_token:
            data["refresh_token"] = refresh_token
        if extras:
            data["extras"] = extras
        self._refuse_foreign_target()
        directory = self.path.parent
        try:
            _make_private_dir(directory, tighten=self._default_location)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
        except OSError as exc:
            self._warn_unwritable(exc)
            return
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                os.chmod(tmp, 0o600)  # mkstemp already does; be explicit
                json.dump(data, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            self._warn_unwritable(exc)
            return
        _fsync_dir(directory)

    def clear(self) -> None:
        """Remove the cache file if present."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _read_own_file(self) -> bytes:
        """The file's bytes, opened without following a symbolic link and only if this
        user owns it: in a folder others can write (a shared ``cache_filepath``), a
        link could point at another file and a file of theirs could hold a token of
        their account, which this kernel would then use."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags)
        except OSError as exc:
            if exc.errno == errno.ELOOP or self.path.is_symlink():
                raise self._symlink_error() from None
            raise
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
                raise self._foreign_owner_error(st.st_uid)
            return f.read()

    def _refuse_foreign_target(self) -> None:
        """Refuse to write over a symbolic link or another user's file."""
        try:
            st = os.lstat(self.path)
        except OSError:
            return
        if stat.S_ISLNK(st.st_mode):
            raise self._symlink_error()
        if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
            raise self._foreign_owner_error(st.st_uid)

    def _symlink_error(self) -> CredentialsError:
        return CredentialsError(
            f"The CARTO token cache {str(self.path)!r} is a symbolic link, which is not "
            "followed: whoever made it could point it at another file. Remove the link, "
            "or set cache_filepath to a file in a folder only you can write."
        )

    def _foreign_owner_error(self, uid: int) -> CredentialsError:
        return CredentialsError(
            f"The CARTO token cache {str(self.path)!r} belongs to another user (uid {uid}), "
            "so its token may be of their CARTO account. Set cache_filepath to a file in "
            "a folder only you can write (or leave it unset for the private default)."
        )

    def _metadata(self) -> dict[str, Any]:
        return asdict(self.key)

    def _warn(self, problem: str) -> None:
        warnings.warn(
            f"Ignoring the CARTO token cache {str(self.path)!r}: it {problem}. "
            "A new token is fetched instead.",
            CacheWarning,
            stacklevel=4,
        )

    def _warn_unwritable(self, exc: OSError) -> None:
        warnings.warn(
            f"Could not write the CARTO token cache {str(self.path)!r} "
            f"({exc.strerror or type(exc).__name__}); the token is kept in memory only.",
            CacheWarning,
            stacklevel=4,
        )


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
