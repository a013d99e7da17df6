"""Benchmarks (`make bench`): what a user pays for jupyterlab-carto-auth, side by side
with carto-auth 0.2.0 and with no extension at all (bench/README.md says how).

    python bench/bench.py [--quick] [--output results.json] [--only py,js,page,session]

Prints a table (figure, ours, comparator, ratio, target, met?) and writes the figures,
their samples and the machine to ``bench/results.json``. Every figure is a median of
repeated runs; every ratio is measured in one run, alternating the variants. It judges
nothing: `make test` only checks (tests/test_bench_smoke.py) that ``--quick`` runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Figure, machine, table

PARTS = ("py", "js", "page", "session")


def js_figure() -> Figure:
    """Figure 6: JavaScript loaded at JupyterLab start-up, gzip."""
    fig = Figure("6", "JS loaded at JupyterLab start-up (gzip)", "bytes", "<= 15 KiB")
    script = ROOT / "bench" / "startup-chunks.mjs"
    node = shutil.which("node")
    try:
        if not node:
            raise RuntimeError("node is not on PATH")
        from common import free_port
        from labfigures import servers

        with servers() as s:
            port = free_port()
            s.sandbox([port])
            url = s.lab("startup", port, "ours")
            s.wait_ready(url, "startup")
            out = subprocess.run(  # noqa: S603
                [node, str(script), f"{url}lab"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=180,
            )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-500:])
        found = json.loads(out.stdout.strip().splitlines()[-1])
        fig.ours = float(found["startup_gzip_bytes"])
        fig.samples = {"startup-chunks.mjs": [found]}  # type: ignore[list-item]
        fig.notes.append(
            f"{len(found['chunks'])} chunks at start-up, {found['startup_raw_bytes']} B raw"
        )
    except Exception as exc:
        fig.error = f"{type(exc).__name__}: {exc}"
    return fig.finish(lambda f: f.ours <= 15 * 1024)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every figure once, tiny counts")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--only", default=",".join(PARTS), help="some of: " + ",".join(PARTS))
    parser.add_argument("--profile", type=Path, help="write Chromium CPU profiles here")
    args = parser.parse_args(argv)
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    if parts - set(PARTS):
        parser.error(f"unknown parts: {sorted(parts - set(PARTS))}")

    started = time.monotonic()
    info = machine()
    figures: list[Figure] = []
    if "py" in parts:
        import pyfigures

        if args.quick:
            figures += pyfigures.figures(repeats=1, calls_repeats=1, sample_s=0.01)
        else:
            figures += pyfigures.figures(repeats=21, calls_repeats=11, sample_s=0.1)
    if "js" in parts:
        figures.append(js_figure())
    if "page" in parts or "session" in parts:
        import labfigures

        profile_dir = args.profile
        if profile_dir:
            profile_dir.mkdir(parents=True, exist_ok=True)
        if "page" in parts:
            figures += labfigures.page_figures(
                pairs=1 if args.quick else 20,
                profile=profile_dir / "page-load.cpuprofile" if profile_dir else None,
            )
        if "session" in parts:
            figures += labfigures.session_figures(
                kernels=[1, 2] if args.quick else [1, 10, 50],
                fanout_repeats=1 if args.quick else 5,
                signin_repeats=1 if args.quick else 5,
                ttl=8 if args.quick else 12,
                profile=profile_dir / "refresh-fanout.cpuprofile" if profile_dir else None,
            )
    order = {f.id: i for i, f in enumerate(figures)}
    figures.sort(key=lambda f: (_number(f.id), order[f.id]))
    results = {
        "quick": args.quick,
        "duration_s": round(time.monotonic() - started, 1),
        "machine": info,
        "table": table(figures),
        "figures": [f.as_dict() for f in figures],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    print(results["table"])
    print(
        f"\n{info['cores']} cores, {info['cpu']}, {info['memory_gib']} GiB, "
        f"Python {info['python']}, {info['chromium']}, load {info['load_average_at_start']}; "
        f"{results['duration_s']:.0f} s; written to {args.output}"
    )
    errors = [f for f in figures if f.error]
    for f in errors:
        print(f"figure {f.id}: {f.error}", file=sys.stderr)
    return 1 if errors else 0


def _number(figure_id: str) -> int:
    digits = "".join(c for c in figure_id.split("/")[0] if c.isdigit())
    return int(digits) if digits else 99


if __name__ == "__main__":
    sys.exit(main())
