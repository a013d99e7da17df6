"""The token cache: owner-only, atomic, keyed per account, and robust to bad files."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FakeServer, Reply, free_port, write_credentials

from jupyterlab_carto_auth import CartoAuth
from jupyterlab_carto_auth.cache import CACHE_VERSION, CacheKey, CacheWarning, TokenCache
from jupyterlab_carto_auth.config import CartoConfig
from jupyterlab_carto_auth.errors import CredentialsError, NetworkError
from jupyterlab_carto_auth.secret import Token

KEY = CacheKey("m2m", "https://auth.carto.com/oauth/token", "https://api.example.com", None, "c1")
SECRET = "the-client-secret-xyz"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# --- location and key ----------------------------------------------------------------


def test_default_location_is_under_home_cache(isolated_home: Path) -> None:
    cache = TokenCache(KEY)
    assert cache.path == isolated_home / ".cache" / "jupyterlab-carto-auth" / f"{KEY.digest()}.json"


def test_xdg_cache_home_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert TokenCache(KEY).path.parent == tmp_path / "xdg" / "jupyterlab-carto-auth"


def test_relative_xdg_cache_home_is_ignored(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    assert TokenCache(KEY).path.parent == isolated_home / ".cache" / "jupyterlab-carto-auth"


@pytest.mark.parametrize(
    "other",
    [
        CacheKey("oauth", KEY.token_url, KEY.api_base_url, None, "c1"),
        CacheKey("m2m", "http://127.0.0.1:9/oauth/token", KEY.api_base_url, None, "c1"),
        CacheKey("m2m", KEY.token_url, "https://api-eu.example.com", None, "c1"),
        CacheKey("m2m", KEY.token_url, KEY.api_base_url, "some-org", "c1"),
        CacheKey("m2m", KEY.token_url, KEY.api_base_url, None, "c2"),
    ],
)
def test_every_part_of_the_key_gives_another_file(other: CacheKey) -> None:
    assert TokenCache(other).path != TokenCache(KEY).path


# --- writing -------------------------------------------------------------------------


def test_saved_token_is_loaded_back_with_its_metadata() -> None:
    cache = TokenCache(KEY)
    token = Token("tok-123", time.time() + 3600)
    cache.save(token)
    assert cache.load() == token
    data = json.loads(cache.path.read_text())
    assert data == {
        "version": CACHE_VERSION,
        "access_token": "tok-123",
        "expires_at": token.expires_at,
        "kind": "m2m",
        "token_url": KEY.token_url,
        "api_base_url": KEY.api_base_url,
        "org": None,
        "client_id": "c1",
    }


def test_permissions_are_owner_only_even_with_umask_000(umask_000: None) -> None:
    cache = TokenCache(KEY)
    cache.save(Token("tok", time.time() + 3600))
    assert mode_of(cache.path.parent) == 0o700
    assert mode_of(cache.path) == 0o600


def test_loose_default_directory_is_tightened(umask_000: None) -> None:
    cache = TokenCache(KEY)
    cache.path.parent.mkdir(parents=True)
    os.chmod(cache.path.parent, 0o755)  # noqa: S103 - the loose mode under test
    cache.save(Token("tok", time.time() + 3600))
    assert mode_of(cache.path.parent) == 0o700


def test_existing_loose_file_is_replaced_by_an_owner_only_one(umask_000: None) -> None:
    cache = TokenCache(KEY)
    cache.save(Token("old", time.time() + 3600))
    os.chmod(cache.path, 0o666)  # noqa: S103 - the loose mode under test
    cache.save(Token("new", time.time() + 3600))
    assert mode_of(cache.path) == 0o600
    assert cache.load().access_token == "new"


def test_explicit_path_in_a_missing_directory(tmp_path: Path, umask_000: None) -> None:
    path = tmp_path / "mine" / "nested" / "token.json"
    cache = TokenCache(KEY, path)
    cache.save(Token("tok", time.time() + 3600))
    assert cache.path == path
    assert mode_of(path.parent) == 0o700
    assert mode_of(path) == 0o600
    assert cache.load().access_token == "tok"


def test_explicit_path_leaves_an_existing_directory_alone(tmp_path: Path, umask_000: None) -> None:
    shared = tmp_path / "project"
    shared.mkdir()
    os.chmod(shared, 0o755)  # noqa: S103 - a normal project directory
    cache = TokenCache(KEY, shared / "token.json")
    cache.save(Token("tok", time.time() + 3600))
    assert mode_of(shared) == 0o755
    assert mode_of(shared / "token.json") == 0o600


def test_write_leaves_no_temporary_file() -> None:
    cache = TokenCache(KEY)
    for i in range(3):
        cache.save(Token(f"tok-{i}", time.time() + 3600))
    assert os.listdir(cache.path.parent) == [cache.path.name]


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = TokenCache(KEY)
    cache.save(Token("old", time.time() + 3600))

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.warns(CacheWarning, match="No space left on device"):
        cache.save(Token("new", time.time() + 3600))
    monkeypatch.undo()
    assert os.listdir(cache.path.parent) == [cache.path.name]
    assert cache.load().access_token == "old"


# --- reading bad files ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"access_token": "LEAKED-SECRET-TOKEN", ', "is not valid JSON"),
        (b"\xff\xfeLEAKED-SECRET-TOKEN", "is not valid JSON"),
        (b'["LEAKED-SECRET-TOKEN"]', "is not a version 1 token cache file"),
        (
            b'{"version": 99, "access_token": "LEAKED-SECRET-TOKEN", "expires_at": 1}',
            "is not a version 1",
        ),
        (b'{"access_token": "LEAKED-SECRET-TOKEN", "expires_at": 1}', "is not a version 1"),
        (
            b'{"version": 1, "access_token": "LEAKED-SECRET-TOKEN", "expires_at": "soon"}',
            "no valid access_token and expires_at",
        ),
        (b'{"version": 1, "expires_at": 5}', "no valid access_token and expires_at"),
    ],
)
def test_unusable_file_is_ignored_with_a_warning_not_showing_it(
    content: bytes, problem: str
) -> None:
    cache = TokenCache(KEY)
    cache.path.parent.mkdir(parents=True)
    cache.path.write_bytes(content)
    with pytest.warns(CacheWarning) as record:
        assert cache.load() is None
    message = str(record[0].message)
    assert problem in message
    assert str(cache.path) in message
    assert "LEAKED-SECRET-TOKEN" not in message


def test_unreadable_file_is_ignored_with_a_warning() -> None:
    cache = TokenCache(KEY)
    cache.path.mkdir(parents=True)  # a directory where the file should be
    with pytest.warns(CacheWarning, match="cannot be read"):
        assert cache.load() is None


def test_missing_file_is_silently_empty() -> None:
    assert TokenCache(KEY).load() is None


def test_file_of_another_account_at_an_explicit_path_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "shared-token.json"
    TokenCache(KEY, path).save(Token("tok-of-c1", time.time() + 3600))
    other = CacheKey(KEY.kind, KEY.token_url, KEY.api_base_url, None, "c2")
    assert TokenCache(other, path).load() is None
    assert TokenCache(KEY, path).load().access_token == "tok-of-c1"


# --- CartoAuth and the cache (token endpoint: the fake server) -----------------------


def _creds(tmp_path: Path, name: str, client_id: str = "c1") -> Path:
    return write_credentials(
        tmp_path / name,
        {
            "api_base_url": "https://api.example.com",
            "client_id": client_id,
            "client_secret": SECRET,
        },
    )


def _token_endpoint(server: FakeServer, delay: float = 0.0) -> CartoConfig:
    counter = {"n": 0}
    lock = threading.Lock()

    def answer(body: bytes) -> Reply:
        with lock:
            counter["n"] += 1
            n = counter["n"]
        return Reply(body={"access_token": f"fresh-{n}", "expires_in": 3600}, delay=delay)

    server.routes["/oauth/token"] = answer
    return CartoConfig(token_url=server.url("/oauth/token"), http_timeout=5)


def test_from_m2m_writes_the_cache_and_a_second_one_reads_it(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    config = _token_endpoint(fake_server)
    path = _creds(tmp_path, "c.json")
    first = CartoAuth.from_m2m(path, config=config)
    second = CartoAuth.from_m2m(path, config=config)
    assert first.get_access_token() == second.get_access_token() == "fresh-1"
    assert fake_server.hits["/oauth/token"] == 1
    cached = json.loads(next((Path.home() / ".cache/jupyterlab-carto-auth").iterdir()).read_text())
    assert cached["access_token"] == "fresh-1"
    assert SECRET not in json.dumps(cached)


def test_use_cache_false_neither_reads_nor_writes(tmp_path: Path, fake_server: FakeServer) -> None:
    config = _token_endpoint(fake_server)
    path = _creds(tmp_path, "c.json")
    CartoAuth.from_m2m(path, config=config)
    auth = CartoAuth.from_m2m(path, use_cache=False, config=config)
    assert auth.get_access_token() == "fresh-2"
    assert fake_server.hits["/oauth/token"] == 2
    cache_dir = Path.home() / ".cache/jupyterlab-carto-auth"
    (cache_file,) = cache_dir.iterdir()
    assert json.loads(cache_file.read_text())["access_token"] == "fresh-1"


def test_corrupt_cache_warns_and_is_refetched(tmp_path: Path, fake_server: FakeServer) -> None:
    config = _token_endpoint(fake_server)
    cache_path = tmp_path / "token.json"
    cache_path.write_text("{{{ not json")
    with pytest.warns(CacheWarning, match="is not valid JSON"):
        auth = CartoAuth.from_m2m(
            _creds(tmp_path, "c.json"), cache_filepath=cache_path, config=config
        )
    assert auth.get_access_token() == "fresh-1"
    assert json.loads(cache_path.read_text())["access_token"] == "fresh-1"


def test_expired_cached_token_is_refetched(tmp_path: Path, fake_server: FakeServer) -> None:
    config = _token_endpoint(fake_server)
    path = _creds(tmp_path, "c.json")
    key = CacheKey("m2m", config.token_url, "https://api.example.com", None, "c1")
    TokenCache(key).save(Token("stale", time.time() - 10))
    assert CartoAuth.from_m2m(path, config=config).get_access_token() == "fresh-1"
    assert TokenCache(key).load().access_token == "fresh-1"


def test_cached_token_about_to_expire_is_refetched(tmp_path: Path, fake_server: FakeServer) -> None:
    config = _token_endpoint(fake_server)
    key = CacheKey("m2m", config.token_url, "https://api.example.com", None, "c1")
    TokenCache(key).save(Token("nearly-expired", time.time() + 30))  # inside the 60 s margin
    assert CartoAuth.from_m2m(_creds(tmp_path, "c.json"), config=config).get_access_token() == (
        "fresh-1"
    )


def test_valid_cached_token_is_used_without_any_request(tmp_path: Path) -> None:
    config = CartoConfig(token_url=f"http://127.0.0.1:{free_port()}/oauth/token", http_timeout=2)
    key = CacheKey("m2m", config.token_url, "https://api.example.com", None, "c1")
    TokenCache(key).save(Token("cached-token", time.time() + 3600))
    auth = CartoAuth.from_m2m(_creds(tmp_path, "c.json"), config=config)
    assert auth.get_access_token() == "cached-token"


def test_another_client_never_gets_the_cached_token(tmp_path: Path) -> None:
    # The cache holds a valid token for client c1; client c2 (another credentials
    # file) must go to the token endpoint (here: down) instead of using it.
    config = CartoConfig(token_url=f"http://127.0.0.1:{free_port()}/oauth/token", http_timeout=2)
    key = CacheKey("m2m", config.token_url, "https://api.example.com", None, "c1")
    TokenCache(key).save(Token("token-of-c1", time.time() + 3600))
    assert CartoAuth.from_m2m(_creds(tmp_path, "a.json"), config=config).get_access_token() == (
        "token-of-c1"
    )
    with pytest.raises(NetworkError):
        CartoAuth.from_m2m(_creds(tmp_path, "b.json", client_id="c2"), config=config)


def test_two_clients_sharing_an_explicit_cache_path_do_not_share_tokens(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    config = _token_endpoint(fake_server)
    shared = tmp_path / "shared.json"
    a = CartoAuth.from_m2m(_creds(tmp_path, "a.json", "c1"), cache_filepath=shared, config=config)
    b = CartoAuth.from_m2m(_creds(tmp_path, "b.json", "c2"), cache_filepath=shared, config=config)
    assert a.get_access_token() == "fresh-1"
    assert b.get_access_token() == "fresh-2"


def test_concurrent_callers_share_one_refresh(tmp_path: Path, fake_server: FakeServer) -> None:
    config = _token_endpoint(fake_server, delay=0.3)
    auth = CartoAuth(
        "m2m",
        api_base_url="https://api.example.com",
        client_id="c1",
        client_secret=SECRET,
        use_cache=False,
        config=config,
    )
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(auth.get_access_token())) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == ["fresh-1"] * 8
    assert fake_server.hits["/oauth/token"] == 1


# --- a cache_filepath in a shared folder: no symlinks, no files of others ----------------

NOBODY = 65534  # the tests run as root (CI too), which may chown to another user


def _foreign_file(path: Path) -> Path:
    """A valid cache file for KEY at ``path`` that another user owns."""
    TokenCache(KEY, path).save(Token("tok-of-another-user", time.time() + 3600))
    os.chown(path, NOBODY, NOBODY)
    return path


def test_a_symlink_at_the_cache_path_is_refused_on_read(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.json"
    TokenCache(KEY, real).save(Token("tok-behind-the-link", time.time() + 3600))
    link = tmp_path / "shared" / "token.json"
    link.parent.mkdir()
    link.symlink_to(real)
    with pytest.raises(CredentialsError, match="symbolic link") as info:
        TokenCache(KEY, link).load()
    assert "cache_filepath" in str(info.value)
    assert "tok-behind" not in str(info.value)


def test_a_symlink_at_the_cache_path_is_refused_on_write(tmp_path: Path) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    link = tmp_path / "token.json"
    link.symlink_to(target)
    with pytest.raises(CredentialsError, match="symbolic link"):
        TokenCache(KEY, link).save(Token("tok-new", time.time() + 3600))
    assert link.is_symlink()
    assert target.read_text() == "keep me"


def test_a_dangling_symlink_at_the_cache_path_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "token.json"
    link.symlink_to(tmp_path / "not-yet-there.json")
    with pytest.raises(CredentialsError, match="symbolic link"):
        TokenCache(KEY, link).load()
    with pytest.raises(CredentialsError, match="symbolic link"):
        TokenCache(KEY, link).save(Token("tok-new", time.time() + 3600))
    assert not (tmp_path / "not-yet-there.json").exists()


def test_a_cache_file_another_user_owns_is_refused_on_read(tmp_path: Path) -> None:
    path = _foreign_file(tmp_path / "token.json")
    with pytest.raises(CredentialsError, match="another user") as info:
        TokenCache(KEY, path).load()
    assert f"uid {NOBODY}" in str(info.value)
    assert "cache_filepath" in str(info.value)
    assert "tok-of-another" not in str(info.value)


def test_a_cache_file_another_user_owns_is_refused_on_write(tmp_path: Path) -> None:
    path = _foreign_file(tmp_path / "token.json")
    with pytest.raises(CredentialsError, match="another user"):
        TokenCache(KEY, path).save(Token("tok-new", time.time() + 3600))
    assert path.stat().st_uid == NOBODY


def test_from_m2m_with_a_foreign_cache_file_says_what_to_do(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    config = _token_endpoint(fake_server)
    path = _foreign_file(tmp_path / "shared-token.json")
    with pytest.raises(CredentialsError, match="belongs to another user"):
        CartoAuth.from_m2m(_creds(tmp_path, "creds.json"), cache_filepath=path, config=config)
