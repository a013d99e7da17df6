"""The API base URL of a CARTO account, found from its access token.

CARTO's accounts endpoint names the account's tenant domain; the tenant's
``config.yaml`` holds ``apis.baseUrl``. Read without a YAML library: the kernel
side imports nothing but the standard library.
"""

from __future__ import annotations

import re

from . import _http
from .config import CartoConfig, url_problem
from .errors import ResponseError

_TENANT_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::\d{1,5})?")


def parse_base_url_yaml(text: str) -> str | None:
    """``apis.baseUrl`` of a tenant's ``config.yaml``, read without a YAML library.

    Understands the block form CARTO serves (``apis:`` then an indented
    ``baseUrl: <url>``), with optional quotes and comments.
    """
    in_apis = False
    apis_indent = 0
    child_indent: int | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        if in_apis and indent <= apis_indent:
            in_apis = False
        if not in_apis:
            if re.fullmatch(r"apis:\s*(#.*)?", stripped):
                in_apis, apis_indent, child_indent = True, indent, None
            continue
        if child_indent is None:
            child_indent = indent
        if indent != child_indent:
            continue
        match = re.fullmatch(r"""baseUrl:\s*(.*)""", stripped)
        if match:
            return _yaml_scalar(match.group(1))
    return None


def _yaml_scalar(value: str) -> str | None:
    value = value.strip()
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        if end == -1:
            return None
        inner = value[1:end]
        return inner.replace("''", "'") if quote == "'" else inner
    value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
    return value or None


def discover_api_base_url(token: str, config: CartoConfig) -> str:
    """The account's API base URL: accounts -> ``tenant_domain`` -> tenant config -> baseUrl."""
    accounts = _http.get_json(
        config.accounts_url,
        token=token,
        timeout=config.http_timeout,
        what="The CARTO accounts endpoint",
        hint="the CARTO_ACCOUNTS_URL setting",
    )
    tenant = accounts.get("tenant_domain") if isinstance(accounts, dict) else None
    if not isinstance(tenant, str) or not _TENANT_DOMAIN.fullmatch(tenant):
        raise ResponseError(
            f"The CARTO accounts endpoint at {_http.display_url(config.accounts_url)} answered "
            "without a valid tenant_domain. Set CARTO_API_BASE_URL to your account's API Base "
            "URL (CARTO Workspace > Developers).",
            url=_http.display_url(config.accounts_url),
        )
    url = config.tenant_config_url_template.format(tenant_domain=tenant)
    text = _http.get_text(
        url,
        timeout=config.http_timeout,
        what="The CARTO tenant configuration",
        hint="the CARTO_TENANT_CONFIG_URL_TEMPLATE setting",
    )
    base = parse_base_url_yaml(text)
    problem = url_problem(base) if base else "is missing"
    if problem:
        raise ResponseError(
            f"The CARTO tenant configuration at {_http.display_url(url)} has no usable "
            f"apis.baseUrl (it {problem}). Set CARTO_API_BASE_URL to your account's API Base URL.",
            url=_http.display_url(url),
        )
    return base.rstrip("/")  # type: ignore[union-attr]
