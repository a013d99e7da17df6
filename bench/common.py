"""What every part of the benchmark harness shares: figures, medians, machine facts,
free ports and child processes that are always stopped."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sandbox"))
# The one port picker (outside the ephemeral range), re-exported for the bench modules.
from ports import free_port as free_port  # noqa: E402

CHROMIUM = os.environ.get("CARTO_BENCH_CHROMIUM", "/usr/bin/chromium")


@dataclass
class Figure:
    """One row of the table: ours against a comparator measured in the same run."""

    id: str
    name: str
    unit: str
    target: str
    ours: float | None = None
    comparator: float | None = None
    comparator_name: str | None = None
    #: ``ours / comparator`` when both exist, else ``None``.
    ratio: float | None = None
    #: Whether the target holds (``None``: nothing measured). Printed, never asserted.
    met: bool | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def finish(self, check: Callable[[Figure], bool] | None) -> Figure:
        if self.ours is not None and self.comparator:
            self.ratio = self.ours / self.comparator
        if check is not None and self.ours is not None:
            with contextlib.suppress(TypeError, ZeroDivisionError):
                self.met = bool(check(self))
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def rotations(names: list[str], repeats: int) -> Iterator[list[str]]:
    """``names`` in a different order each repetition, so no variant always goes first."""
    for rep in range(repeats):
        k = rep % len(names)
        yield names[k:] + names[:k]


def stop(proc: subprocess.Popen[Any] | None, timeout: float = 10) -> None:
    """SIGTERM the process group of ``proc``, SIGKILL after ``timeout`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _first_line(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else None


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    cpu = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    load = None
    with contextlib.suppress(OSError):
        load = [round(x, 2) for x in os.getloadavg()]
    node = shutil.which("node")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cpu": cpu or platform.processor() or None,
        "memory_gib": round(mem_kib / 2**20, 1) if mem_kib else None,
        "load_average_at_start": load,
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "chromium": _first_line([CHROMIUM, "--version"]) if Path(CHROMIUM).exists() else None,
        "node": _first_line([node, "--version"]) if node else None,
        "versions": _versions(),
    }


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    found: dict[str, str | None] = {}
    for dist in (
        "jupyterlab-carto-auth",
        "carto-auth",
        "jupyterlab",
        "jupyter_server",
        "ipykernel",
        "jupyter_client",
    ):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 10 else f"{value:.1f} s"
    if unit == "per_call_s":
        return f"{value * 1e6:.2f} us"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "bytes":
        return f"{value / 1024:.1f} KiB" if abs(value) < 2**20 else f"{value / 2**20:.2f} MiB"
    return f"{value:g}"


def table(figures: list[Figure]) -> str:
    """The figures as a Markdown table (what `make bench` prints and the README shows)."""
    rows = [
        "| # | figure | ours | comparator | ratio | target | met? |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        comp = fmt(f.comparator, f.unit)
        if f.comparator_name and f.comparator is not None:
            comp = f"{comp} ({f.comparator_name})"
        ratio = f"{f.ratio:.3f}x" if f.ratio is not None else "-"
        met = {True: "yes", False: "NO", None: "-"}[f.met]
        ours = fmt(f.ours, f.unit) if f.error is None else f"error: {f.error[:60]}"
        rows.append(f"| {f.id} | {f.name} | {ours} | {comp} | {ratio} | {f.target} | {met} |")
    return "\n".join(rows)
