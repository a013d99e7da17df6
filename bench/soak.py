"""Soak (`make soak`: 10 minutes, 50 kernels; `make test` runs 60 seconds through
tests/test_soak.py): a real JupyterLab with N consoles, each kernel calling the CARTO
API stand-in through the package every few seconds, the sandbox issuing short-lived
access tokens so the lab refreshes every cycle.

    python bench/soak.py [--seconds 600] [--kernels 50] [--ttl 20] [--interval 2]
                         [--output soak.json]

It reuses the benchmark harness: ``labfigures.servers`` starts the sandbox and the lab
(``kernelAccess: all``), ``bench/lab.mjs`` (mode ``soak``) drives Debian's Chromium,
opens the consoles with figure 9's watcher (every session a kernel is handed, logged)
and measures. Counted over the window, which starts after the first refresh:

- refreshes: token-endpoint requests with ``grant_type=refresh_token`` at the
  provider (``/__sandbox/stats``), each timed by polling it every second;
- pushes: new tokens each kernel was handed (the watcher's log);
- 401s of the CARTO API stand-in (``api_requests["401"]``), over the whole run;
- the browser's JS heap after two forced collections (CDP), the Jupyter server's RSS
  and the kernels' (``/proc``), at the start and at the end of the window.

Prints a table and exits 1 when a check fails (the checks are listed in ``CHECKS``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, free_port, machine
from labfigures import run_browser, servers

MIB = 2**20
#: Growth allowed between the start and the end of the window: the larger of an
#: absolute amount and a fraction of the start value (what the first runs showed as
#: noise is in docs/reliability.md).
HEAP_BOUND = (8 * MIB, 0.10)
SERVER_RSS_BOUND = (24 * MIB, 0.15)

CHECKS = (
    "no 401 from the CARTO API stand-in, no failed call in any kernel",
    "refreshes in the window: window / cycle, +-1, one at a time, none refused",
    "every kernel handed every refreshed token (pushes per kernel = refreshes +-1)",
    "browser heap and server RSS: growth within the bounds",
    "every kernel alive and looping, the lab still signed in",
)


def margin_seconds(ttl: float) -> float:
    """The lab's refresh margin for tokens of ``ttl`` s: the setting's default, at most a
    quarter of the lifetime (``RefreshScheduler.margin`` in src/refresh.ts)."""
    schema = json.loads((ROOT / "schema" / "session.json").read_text())
    setting = schema["properties"]["refreshMarginSeconds"]["default"]
    return min(setting, ttl / 4)


def run(seconds: float, kernels: int, ttl: int, interval: float) -> dict[str, Any]:
    """The raw measurements of one soak run (lab.mjs's result, plus the run's facts)."""
    started = time.monotonic()
    with servers() as s:
        port = free_port()
        info = s.sandbox([port])
        url = s.lab("lab", port, "ours", every_kernel=True)
        server_pid = s.procs[-1].pid
        s.wait_ready(url, "lab")
        watch = s.workdir / "watch"
        watch.mkdir()
        result = run_browser(
            {
                "mode": "soak",
                "lab_url": url,
                "issuer": info["issuer"],
                "user": info["user"],
                "watch_dir": str(watch),
                "kernels": kernels,
                "seconds": seconds,
                "ttl": ttl,
                "interval": interval,
                "server_pid": server_pid,
            },
            s.workdir,
            timeout_s=300 + kernels * 6 + seconds + 3 * ttl,
        )
        if result.get("errors"):
            result["lab_log"] = s.tail("lab", 30)
    result["config"] = {"seconds": seconds, "kernels": kernels, "ttl": ttl, "interval": interval}
    result["wall_s"] = round(time.monotonic() - started, 1)
    return result


def _bound(start: float, bound: tuple[float, float]) -> float:
    return max(bound[0], start * bound[1])


def judge(result: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The figures of a run and the checks that failed (empty: all passed)."""
    if result.get("errors") or "end" not in result:
        return {}, [f"the run did not finish: {result.get('errors')}\n{result.get('lab_log', '')}"]
    cfg = result["config"]
    start, end = result["start"], result["end"]
    window = end["t"] - start["t"]
    margin = margin_seconds(cfg["ttl"])
    cycle = cfg["ttl"] - margin
    refreshes = result["refreshes"]
    n_refresh = sum(r["n"] for r in refreshes)
    expected = window / cycle
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(refreshes)]
    pushes = result["tokens_received"]
    loops0 = {i: (loop or {}) for i, loop in enumerate(start["loops"])}
    loops1 = {i: (loop or {}) for i, loop in enumerate(end["loops"])}
    calls = [loops1[i].get("calls", 0) - loops0[i].get("calls", 0) for i in loops1]
    errors: dict[str, int] = {}
    for loop in loops1.values():
        for key, count in (loop.get("errors") or {}).items():
            errors[key] = errors.get(key, 0) + count
    fatal = [loop["fatal"] for loop in loops1.values() if loop.get("fatal")]
    api = end["provider"]["api_requests"]
    refresh_errors = (
        end["provider"]["token_errors"]["refresh_token"]
        - start["provider"]["token_errors"]["refresh_token"]
    )
    figures = {
        "kernels": cfg["kernels"],
        "window_s": round(window, 1),
        "token_ttl_s": cfg["ttl"],
        "refresh_cycle_s": cycle,
        "refreshes": n_refresh,
        "refreshes_expected": round(expected, 2),
        "refresh_gap_s": [round(min(gaps), 2), round(max(gaps), 2)] if gaps else None,
        "refresh_errors": refresh_errors,
        "pushes": sum(pushes),
        "pushes_per_kernel": [min(pushes), max(pushes)] if pushes else None,
        "api_calls_in_window": sum(calls),
        "api_calls_whole_run": sum(api.values()),
        "api_401": api.get("401", 0),
        "api_by_status": api,
        "kernel_errors": errors,
        "slow_tokens": sum(loop.get("slow_tokens", 0) for loop in loops1.values()),
        "token_max_ms": round(max(lp.get("token_max_ms", 0) for lp in [{}, *loops1.values()])),
        "heap_start": start["heap_used"],
        "heap_end": end["heap_used"],
        "server_rss_start": start["server_rss_kib"] * 1024,
        "server_rss_end": end["server_rss_kib"] * 1024,
        "kernels_rss_start": start["kernels_rss_kib"] * 1024,
        "kernels_rss_end": end["kernels_rss_kib"] * 1024,
        "sessions_end": end["sessions"],
        "kernel_processes_end": end["kernel_processes"],
    }
    failed = []
    if figures["api_401"] or errors or fatal or result.get("watch_errors"):
        failed.append(
            f"401s: {figures['api_401']}, kernel errors: {errors}, fatal: {fatal}, "
            f"watcher: {result.get('watch_errors')}"
        )
    bad_gaps = [g for g in gaps if not 0.5 * cycle <= g <= 1.5 * cycle]
    if (
        abs(n_refresh - expected) > 1
        or any(r["n"] != 1 for r in refreshes)
        or bad_gaps
        or refresh_errors
    ):
        failed.append(
            f"refreshes: {n_refresh} in {window:.0f} s, expected {expected:.1f} "
            f"(one per {cycle:g} s cycle); batches {[r['n'] for r in refreshes if r['n'] != 1]}, "
            f"gaps off the cycle {bad_gaps}, refused {refresh_errors}"
        )
    off = [i for i, p in enumerate(pushes) if abs(p - n_refresh) > 1]
    if len(pushes) != cfg["kernels"] or off:
        failed.append(
            f"pushes: kernels {off} were handed {[pushes[i] for i in off]} tokens "
            f"for {n_refresh} refreshes"
        )
    for name, key, bound in (
        ("browser heap", "heap", HEAP_BOUND),
        ("server RSS", "server_rss", SERVER_RSS_BOUND),
    ):
        grew = figures[f"{key}_end"] - figures[f"{key}_start"]
        figures[f"{key}_growth"] = grew
        figures[f"{key}_bound"] = _bound(figures[f"{key}_start"], bound)
        if grew > figures[f"{key}_bound"]:
            failed.append(
                f"{name} grew {grew / MIB:.1f} MiB (from {figures[f'{key}_start'] / MIB:.1f} MiB), "
                f"over the bound of {figures[f'{key}_bound'] / MIB:.1f} MiB"
            )
    floor = 0.5 * window / cfg["interval"]
    idle = [i for i, c in enumerate(calls) if c < floor]
    if (
        idle
        or end["sessions"] != cfg["kernels"]
        or end["kernel_processes"] != cfg["kernels"]
        or end["status"] != "signed-in"
    ):
        failed.append(
            f"kernels {idle} made fewer than {floor:.0f} calls; sessions {end['sessions']}, "
            f"kernel processes {end['kernel_processes']} of {cfg['kernels']}; "
            f"lab status {end['status']}"
        )
    return figures, failed


def _mib(value: float) -> str:
    return f"{value / MIB:.1f} MiB"


def table(f: dict[str, Any]) -> str:
    """The figures as the Markdown rows docs/reliability.md shows."""
    if not f:
        return "(no figures: the run did not finish)"
    rows = [
        ("kernels (consoles), window", f"{f['kernels']}, {f['window_s']:.0f} s"),
        (
            "refreshes (provider token endpoint)",
            f"{f['refreshes']} (expected {f['refreshes_expected']:.1f}: one per "
            f"{f['refresh_cycle_s']:g} s with {f['token_ttl_s']} s tokens); gaps "
            f"{f['refresh_gap_s']} s; refused {f['refresh_errors']}",
        ),
        (
            "pushes (new tokens handed to kernels)",
            f"{f['pushes']} ({f['pushes_per_kernel']} per kernel)",
        ),
        (
            "CARTO API stand-in calls, 401s",
            f"{f['api_calls_in_window']} in the window ({f['api_calls_whole_run']} in the run), "
            f"401: {f['api_401']}",
        ),
        (
            "kernel-side token waits (> 20 ms), slowest",
            f"{f['slow_tokens']}, {f['token_max_ms']} ms",
        ),
        (
            "browser JS heap, start → end (after GC)",
            f"{_mib(f['heap_start'])} → {_mib(f['heap_end'])} "
            f"({f['heap_growth'] / MIB:+.1f}, bound {_mib(f['heap_bound'])})",
        ),
        (
            "Jupyter server RSS, start → end",
            f"{_mib(f['server_rss_start'])} → {_mib(f['server_rss_end'])} "
            f"({f['server_rss_growth'] / MIB:+.1f}, bound {_mib(f['server_rss_bound'])})",
        ),
        (
            "kernels' RSS (sum), start → end",
            f"{_mib(f['kernels_rss_start'])} → {_mib(f['kernels_rss_end'])}",
        ),
    ]
    lines = ["| figure | value |", "| --- | --- |"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600, help="the measured window")
    parser.add_argument("--kernels", type=int, default=50)
    parser.add_argument("--ttl", type=int, default=20, help="access-token lifetime, s")
    parser.add_argument("--interval", type=float, default=2, help="s between a kernel's calls")
    parser.add_argument("--output", type=Path, help="write the results (JSON) here")
    args = parser.parse_args(argv)
    if args.seconds < args.ttl or args.kernels < 1 or args.ttl < 8 or args.interval <= 0:
        parser.error(
            "--seconds must be at least --ttl, --kernels at least 1, --ttl at least 8, "
            "--interval above 0"
        )
    info = machine()
    result = run(args.seconds, args.kernels, args.ttl, args.interval)
    figures, failed = judge(result)
    print(table(figures))
    for problem in failed:
        print(f"FAILED: {problem}")
    if args.output:
        args.output.write_text(
            json.dumps(
                {
                    "machine": info,
                    "figures": figures,
                    "failed": failed,
                    "checks": CHECKS,
                    "raw": result,
                },
                indent=1,
                default=lambda v: None if isinstance(v, float) and not math.isfinite(v) else v,
            )
            + "\n"
        )
    verdict = "FAILED" if failed else "passed"
    print(f"{verdict}: {len(CHECKS)} checks, run took {result['wall_s']} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
