"""CARTO credentials files: every malformed one is refused naming the file and the field."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import write_credentials

from jupyterlab_carto_auth import CartoAuth, CredentialsError
from jupyterlab_carto_auth.errors import InsecureFileWarning
from jupyterlab_carto_auth.m2m import M2MCredentials, load_credentials

SECRET = "s3cr3t-VALUE-never-shown"
GOOD = {
    "api_base_url": "https://gcp-us-east1.api.carto.com",
    "client_id": "abcDEF123",
    "client_secret": SECRET,
}
FIELDS = ("api_base_url", "client_id", "client_secret")


def _refused(path: Path) -> str:
    """The message of the CredentialsError both load_credentials and from_m2m raise."""
    with pytest.raises(CredentialsError) as info:
        load_credentials(path)
    message = str(info.value)
    with pytest.raises(CredentialsError) as info2:
        CartoAuth.from_m2m(path)
    assert str(info2.value) == message
    assert SECRET not in message
    return message


def test_good_file_is_loaded(tmp_path: Path) -> None:
    path = write_credentials(tmp_path / "carto-credentials.json", GOOD)
    creds = load_credentials(path)
    assert creds == M2MCredentials(
        api_base_url=GOOD["api_base_url"],
        client_id=GOOD["client_id"],
        client_secret=SECRET,
        source=str(path),
    )


def test_values_are_stripped_and_the_url_loses_its_trailing_slash(tmp_path: Path) -> None:
    content = {
        "api_base_url": " https://gcp-us-east1.api.carto.com/ ",
        "client_id": "abcDEF123\n",
        "client_secret": f"  {SECRET}\n",
    }
    creds = load_credentials(write_credentials(tmp_path / "c.json", content))
    assert creds.api_base_url == "https://gcp-us-east1.api.carto.com"
    assert creds.client_id == "abcDEF123"
    assert creds.client_secret == SECRET


def test_file_with_bom_is_accepted(tmp_path: Path) -> None:
    import json

    path = write_credentials(tmp_path / "c.json", b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    assert load_credentials(path).client_id == "abcDEF123"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "carto-credentials.json"
    message = _refused(path)
    assert str(path) in message
    assert "not found" in message


def test_directory_instead_of_file(tmp_path: Path) -> None:
    message = _refused(tmp_path)
    assert str(tmp_path) in message
    assert "directory" in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ("api_base_url=https://x\nclient_secret=" + SECRET, "not valid JSON"),
        ('{"client_secret": "' + SECRET + '",}', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not a UTF-8 text file"),
    ],
)
def test_not_json(tmp_path: Path, content: Any, problem: str) -> None:
    path = write_credentials(tmp_path / "carto-credentials.json", content)
    message = _refused(path)
    assert message.startswith(f"{path}: ")
    assert problem in message


@pytest.mark.parametrize(
    ("content", "found"),
    [([GOOD], "a JSON array"), ('"text"', "a string"), ("42", "a number"), ("null", "null")],
)
def test_not_an_object(tmp_path: Path, content: Any, found: str) -> None:
    path = write_credentials(tmp_path / "carto-credentials.json", content)
    message = _refused(path)
    assert message.startswith(f"{path}: expected a JSON object")
    assert found in message


@pytest.mark.parametrize("field", FIELDS)
def test_field_missing(tmp_path: Path, field: str) -> None:
    content = {k: v for k, v in GOOD.items() if k != field}
    path = write_credentials(tmp_path / "carto-credentials.json", content)
    message = _refused(path)
    assert message.startswith(f"{path}: field {field!r} is missing.")
    assert "Developers > Credentials" in message


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_field_empty_or_blank(tmp_path: Path, field: str, blank: str) -> None:
    path = write_credentials(tmp_path / "carto-credentials.json", {**GOOD, field: blank})
    message = _refused(path)
    assert message.startswith(f"{path}: field {field!r} is empty.")


def test_empty_secret_message_tells_where_to_copy_it_from(tmp_path: Path) -> None:
    path = write_credentials(tmp_path / "carto-credentials.json", {**GOOD, "client_secret": ""})
    assert _refused(path) == (
        f"{path}: field 'client_secret' is empty. Copy the Client Secret of your M2M "
        "application from the CARTO Workspace (Developers > Credentials)."
    )


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(
    ("value", "found"), [(12345, "a number"), (True, "a boolean"), ([SECRET], "a JSON array")]
)
def test_field_not_a_string(tmp_path: Path, field: str, value: Any, found: str) -> None:
    path = write_credentials(tmp_path / "carto-credentials.json", {**GOOD, field: value})
    message = _refused(path)
    assert message.startswith(f"{path}: field {field!r} must be a string, not {found}.")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://gcp-us-east1.api.carto.com", "must use https://"),
        ("gcp-us-east1.api.carto.com", "must be an https:// URL"),
        ("https://", "has no host name"),
    ],
)
def test_api_base_url_must_be_https(tmp_path: Path, url: str, problem: str) -> None:
    path = write_credentials(tmp_path / "carto-credentials.json", {**GOOD, "api_base_url": url})
    message = _refused(path)
    assert message.startswith(f"{path}: field 'api_base_url' {problem}")


def test_api_base_url_may_be_plain_http_on_loopback(tmp_path: Path) -> None:
    content = {**GOOD, "api_base_url": "http://127.0.0.1:8000"}
    path = write_credentials(tmp_path / "c.json", content)
    assert load_credentials(path).api_base_url == "http://127.0.0.1:8000"


def test_secret_is_not_in_repr(tmp_path: Path) -> None:
    creds = load_credentials(write_credentials(tmp_path / "c.json", GOOD))
    assert SECRET not in repr(creds)
    assert SECRET not in str(creds)
    assert "abcDEF123" in repr(creds)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_file_readable_by_others_warns(tmp_path: Path, mode: int) -> None:
    path = write_credentials(tmp_path / "c.json", GOOD, mode=mode)
    with pytest.warns(InsecureFileWarning, match=r"chmod 600") as record:
        load_credentials(path)
    assert f"{mode:04o}" in str(record[0].message)
    assert SECRET not in str(record[0].message)


def test_private_file_does_not_warn(tmp_path: Path) -> None:
    # filterwarnings=error: any warning here fails the test.
    path = write_credentials(tmp_path / "c.json", GOOD, mode=0o600)
    load_credentials(path)
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_constructor_validates_m2m_arguments() -> None:
    with pytest.raises(CredentialsError, match=r"field 'client_secret' is missing"):
        CartoAuth("m2m", api_base_url=GOOD["api_base_url"], client_id="abc", use_cache=False)
    with pytest.raises(CredentialsError, match=r"Mode 'password' is not supported"):
        CartoAuth("password")
