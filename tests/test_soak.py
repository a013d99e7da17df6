"""The soak of `make test`: bench/soak.py for 60 seconds with 50 kernels (`make soak`
runs the same for 10 minutes), and its checks, shown to fail on the runs they refuse.

The run is a real JupyterLab, the sandbox provider, Debian's Chromium and 50 real
kernels, each calling the CARTO API stand-in through the package every 2 seconds
with 20-second tokens (docs/reliability.md, "Load", has the figures)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import soak  # noqa: E402

SECONDS = 60
KERNELS = 50


@pytest.mark.timeout(900)
def test_sixty_seconds_of_50_kernels_with_20_second_tokens(tmp_path: Path) -> None:
    # Given the soak harness, 50 consoles calling the API stand-in, 20 s tokens
    output = tmp_path / "soak.json"

    # When it runs for 60 seconds after the first refresh
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "soak.py"),
            f"--seconds={SECONDS}",
            f"--kernels={KERNELS}",
            f"--output={output}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=840,
    )

    print(proc.stdout)  # the table (pytest -s shows it)
    # Then every check passed
    assert output.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["failed"] == [], proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    f = results["figures"]
    # And the figures say so: no 401, one refresh per 15 s cycle, each pushed to all
    assert f["api_401"] == 0
    assert f["kernel_errors"] == {}
    assert abs(f["refreshes"] - f["window_s"] / 15) <= 1
    assert all(abs(n - f["refreshes"]) <= 1 for n in f["pushes_per_kernel"])
    assert f["api_calls_in_window"] >= KERNELS * SECONDS / 2 / 2
    assert f["heap_growth"] <= f["heap_bound"]
    assert f["server_rss_growth"] <= f["server_rss_bound"]
    assert f["sessions_end"] == f["kernel_processes_end"] == KERNELS


# --- the checks refuse what they should -------------------------------------------


def _run(kernels: int = 3, seconds: float = 60, refresh_times: tuple[float, ...] = ()) -> Any:
    """A made-up soak result that passes every check: 60 s, 3 kernels, 4 refreshes."""
    times = refresh_times or (13.0, 28.0, 43.0, 58.0)
    t0 = 1000.0

    def sample(t: float, calls: int) -> dict[str, Any]:
        return {
            "t": t,
            "heap_used": 40 * soak.MIB,
            "server_rss_kib": 100 * 1024,
            "kernels_rss_kib": kernels * 60 * 1024,
            "kernel_processes": kernels,
            "sessions": kernels,
            "status": "signed-in",
            "provider": {
                "api_requests": {"200": calls * kernels},
                "token_errors": {"refresh_token": 0},
            },
            "loops": [
                {"calls": calls, "errors": {}, "fatal": None, "slow_tokens": 0, "token_max_ms": 1}
                for _ in range(kernels)
            ],
        }

    return {
        "errors": [],
        "config": {"seconds": seconds, "kernels": kernels, "ttl": 20, "interval": 2},
        "start": sample(t0, 10),
        "end": sample(t0 + seconds, 40),
        "refreshes": [{"t": t0 + t, "n": 1} for t in times],
        "tokens_received": [len(times)] * kernels,
        "watch_errors": [],
    }


def test_the_made_up_run_passes() -> None:
    figures, failed = soak.judge(_run())
    assert failed == []
    assert figures["refreshes"] == 4
    assert figures["refresh_cycle_s"] == 15


def _fails(result: Any, words: str) -> None:
    _, failed = soak.judge(result)
    assert any(words in problem for problem in failed), failed


def test_one_401_fails() -> None:
    bad = _run()
    bad["end"]["provider"]["api_requests"]["401"] = 1
    _fails(bad, "401s: 1")


def test_an_error_in_a_kernel_fails() -> None:
    bad = _run()
    bad["end"]["loops"][1]["errors"] = {"LabNoAnswer: no answer": 1}
    _fails(bad, "LabNoAnswer")


def test_two_refreshes_in_one_cycle_fail() -> None:
    _fails(_run(refresh_times=(13.0, 14.0, 28.0, 43.0, 58.0)), "gaps off the cycle")
    batched = _run()
    batched["refreshes"][2]["n"] = 2
    _fails(batched, "batches [2]")


def test_a_missed_refresh_fails() -> None:
    _fails(_run(refresh_times=(13.0, 43.0, 58.0)), "gaps off the cycle")
    _fails(_run(refresh_times=(13.0, 28.0)), "refreshes: 2 in 60 s, expected 4.0")


def test_a_kernel_that_missed_a_push_fails() -> None:
    bad = _run()
    bad["tokens_received"][2] = 2
    _fails(bad, "pushes: kernels [2]")


def test_heap_or_rss_growth_over_the_bound_fails() -> None:
    heap = _run()
    heap["end"]["heap_used"] += 9 * soak.MIB
    _fails(heap, "browser heap grew 9.0 MiB")
    rss = _run()
    rss["end"]["server_rss_kib"] += 25 * 1024
    _fails(rss, "server RSS grew 25.0 MiB")


def test_a_dead_kernel_or_a_signed_out_lab_fails() -> None:
    dead = _run()
    dead["end"]["sessions"] = 2
    _fails(dead, "sessions 2")
    out = copy.deepcopy(_run())
    out["end"]["status"] = "signed-out"
    _fails(out, "lab status signed-out")


def test_a_run_that_did_not_finish_fails() -> None:
    _fails({"errors": ["timed out"]}, "did not finish")
