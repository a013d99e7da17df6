"""Benchmarks (`make bench`): numbers to report as ratios measured in one run.

1. Kernel-side import cost: `import jupyterlab_carto_auth` + `.auth` + `.kernel` in a
   fresh interpreter, against `import requests` (carto-auth's HTTP library) as a
   reference measured in the same run. Median of N runs each.
2. `CartoAuth.from_oauth()` + `get_access_token()` with the lab's session held, per call.
3. Size of the prebuilt lab extension (all JS, and gzip-compressed).

No timed assertions: this prints, it does not judge. Machines here are noisy, so
compare the ratio, not the absolute numbers.
"""

from __future__ import annotations

import gzip
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 15

IMPORT_PROBE = """
import time
t = time.perf_counter()
{stmt}
print(time.perf_counter() - t)
"""


def import_seconds(stmt: str) -> float:
    samples = []
    for _ in range(RUNS):
        out = subprocess.run(  # noqa: S603
            [sys.executable, "-c", IMPORT_PROBE.format(stmt=stmt)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
        samples.append(float(out.strip().splitlines()[-1]))
    return statistics.median(samples)


def from_oauth_seconds(calls: int = 2000) -> float:
    from jupyterlab_carto_auth import CartoAuth, kernel

    kernel.SESSION.update(
        {
            "v": 1,
            "type": "session",
            "state": "signed_in",
            "access_token": "x" * 900,
            "expires_at": time.time() + 3600,
            "api_base_url": "https://gcp-us-east1.api.carto.com",
            "user": {"email": "ana@example.com", "name": "Ana", "org": None},
            "reason": "attach",
        }
    )
    start = time.perf_counter()
    for _ in range(calls):
        CartoAuth.from_oauth().get_access_token()
    return (time.perf_counter() - start) / calls


def labextension_bytes() -> tuple[int, int]:
    static = ROOT / "jupyterlab_carto_auth" / "labextension" / "static"
    files = [p for p in static.glob("*.js")]
    raw = sum(p.stat().st_size for p in files)
    packed = sum(len(gzip.compress(p.read_bytes(), 9)) for p in files)
    return raw, packed


def main() -> None:
    ours = import_seconds(
        "import jupyterlab_carto_auth, jupyterlab_carto_auth.auth, jupyterlab_carto_auth.kernel"
    )
    reference = import_seconds("import requests")
    per_call = from_oauth_seconds()
    raw, packed = labextension_bytes()
    print(f"kernel-side import (median of {RUNS}): {ours * 1000:.1f} ms")
    print(f"import requests (reference, same run): {reference * 1000:.1f} ms")
    print(f"ratio ours / requests: {ours / reference:.2f}")
    print(f"from_oauth() + get_access_token() with a lab session: {per_call * 1e6:.1f} us/call")
    print(f"labextension JS: {raw / 1024:.0f} KiB ({packed / 1024:.0f} KiB gzip)")


if __name__ == "__main__":
    main()
