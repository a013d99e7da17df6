"""Write the latest full `make bench` run (bench/results.json) into the READMEs.

    python bench/latest.py [--check]

README.md and bench/README.md each hold the table and the machine it ran on
between the markers ``<!-- bench:latest -->`` and ``<!-- /bench:latest -->``.
`make bench` calls this after a full run; ``--check`` (run by the tests) fails
when a README says something else than results.json, so the table shown is
always the one measured. Standard library only.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
READMES = (ROOT / "README.md", ROOT / "bench" / "README.md")
BLOCK = re.compile(r"(<!-- bench:latest -->\n).*?(<!-- /bench:latest -->)", re.S)


def render(results: dict) -> str:
    """The table and a paragraph on the machine, as Markdown."""
    m = results["machine"]
    minutes, seconds = divmod(round(results["duration_s"]), 60)
    load = ", ".join(f"{x:.2f}" for x in m["load_average_at_start"])
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    errors = [f["id"] for f in results["figures"] if f.get("error")]
    missed = [f["id"] for f in results["figures"] if f.get("met") is False]
    summary = (
        "every target met"
        if not errors and not missed
        else "; ".join(
            part
            for part in (
                f"missed: {', '.join(missed)}" if missed else "",
                f"errored: {', '.join(errors)}" if errors else "",
            )
            if part
        )
    )
    return (
        f"{results['table']}\n\n"
        f"{m['date']}, {minutes} min {seconds} s of benchmarks ({summary}): "
        f"{m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['os']}, "
        f"Python {m['python']}, {m['chromium']}, Node {m['node']}; load average "
        f"{load} at the start; {versions}.\n"
    )


def main(argv: list[str]) -> int:
    results = json.loads(RESULTS.read_text())
    if results.get("quick"):
        print(f"{RESULTS} holds a --quick run: not a table to show", file=sys.stderr)
        return 2
    block = render(results)
    stale = []
    for readme in READMES:
        text = readme.read_text()
        if not BLOCK.search(text):
            print(f"{readme}: no <!-- bench:latest --> block", file=sys.stderr)
            return 2
        new = BLOCK.sub(lambda m: m.group(1) + block + m.group(2), text)
        if new != text:
            stale.append(readme)
            if "--check" not in argv:
                readme.write_text(new)
    if "--check" in argv and stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(
            f"{names} do not show bench/results.json: run python bench/latest.py", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
