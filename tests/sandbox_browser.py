"""A minimal browser for the sandbox's sign-in, over plain HTTP (cookies, redirects, the form).

Used by the tests in-process (paste flow: sign in, read the access code) and as
the ``BROWSER`` command of a kernel (local redirect flow: sign in, get
redirected to the kernel's localhost callback). Standard library only.
"""

from __future__ import annotations

import html
import http.cookiejar
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def sign_in(url: str, email: str, password: str, max_steps: int = 20) -> tuple[str, str]:
    """Follow ``url`` through the sign-in form; return ``(final_url, final_html)``."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    current, form = url, None
    for _ in range(max_steps):
        request = urllib.request.Request(current, headers={"Accept": "text/html"})
        if form is not None:
            request.data = urllib.parse.urlencode(form).encode()
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
            form = None
        try:
            resp = opener.open(request, timeout=10)
        except urllib.error.HTTPError as err:
            resp = err
        with resp:
            status = resp.status if resp.status is not None else resp.code
            location = resp.headers.get("Location")
            body = resp.read().decode("utf-8", "replace")
        if 300 <= status < 400 and location:
            current = urllib.parse.urljoin(current, location)
            continue
        match = re.search(r'<form method="post" action="([^"]+)"', body)
        if match and 'name="password"' in body:
            current = urllib.parse.urljoin(current, html.unescape(match.group(1)))
            form = {"email": email, "password": password}
            continue
        return current, body
    raise RuntimeError("too many redirects")


def access_code(page: str) -> str:
    """The code shown in the access-code page's ``#access-code`` input."""
    match = re.search(r'id="access-code"[^>]*value="([^"]*)"', page)
    if not match:
        raise AssertionError("no #access-code on the page")
    return html.unescape(match.group(1))


if __name__ == "__main__":
    # BROWSER=<script> for a kernel: argv[1] is the URL to "open".
    final, _ = sign_in(sys.argv[1], sys.argv[2], sys.argv[3])
    if len(sys.argv) > 4:
        with open(sys.argv[4], "w", encoding="utf-8") as log:
            log.write(final)
