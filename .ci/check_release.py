"""Release check, as the JupyterLab extension template's check-release: what would be
published is built from a clean clone of HEAD and checked as a user and a packager get it.

    python .ci/check_release.py [--keep]     (make check-release; .ci/run calls it)

1. clone HEAD into a scratch folder; `jlpm install --immutable`; build the sdist and
   the wheel there (hatchling, the build tools of this venv: no build isolation);
2. the sdist holds the sources and the prebuilt labextension, not the dev-only parts;
3. a wheel built from the unpacked sdist (its labextension rebuilt from its own
   sources, at the clone's path) has the same files, byte for byte, as the clone's;
4. `npm pack --dry-run --json` holds what the npm package needs and nothing else;
5. the wheel, installed with JupyterLab (pins of requirements/lock.txt) into a fresh
   venv with no Node.js on PATH, shows in `jupyter labextension list` and
   `jupyter server extension list` as enabled and OK;
6. one version everywhere: package.json's, read by hatch-nodejs-version.

Each step prints one line; the first failure stops the check with its reason (exit 1).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NAME = "jupyterlab-carto-auth"
MODULE = "jupyterlab_carto_auth"
LOCK = ROOT / "requirements" / "lock.txt"

#: In the sdist: what rebuilds the package, and the prebuilt labextension.
SDIST_NEEDS = (
    "pyproject.toml",
    "package.json",
    "yarn.lock",
    ".yarnrc.yml",
    "tsconfig.json",
    "install.json",
    "README.md",
    "LICENSE",
    "src/index.ts",
    "style/index.css",
    "schema/session.json",
    "jupyter-config/server-config/jupyterlab_carto_auth.json",
    f"{MODULE}/__init__.py",
    f"{MODULE}/labextension/package.json",
    f"{MODULE}/labextension/static/style.js",
)
#: Never in the sdist or the wheel: development and test parts.
DEV_ONLY = ("sandbox/", "ui-tests/", "node_modules/", ".venv", "bench/", ".ci/", ".git/")
#: In the wheel: the Python package, the prebuilt labextension and the server config.
WHEEL_NEEDS = (
    f"{MODULE}/__init__.py",
    f"{MODULE}/kernel.py",
    f"{MODULE}/server/app.py",
    f"{MODULE}/_version.py",
    f"{MODULE}-{{version}}.data/data/share/jupyter/labextensions/{NAME}/package.json",
    f"{MODULE}-{{version}}.data/data/share/jupyter/labextensions/{NAME}/install.json",
    f"{MODULE}-{{version}}.data/data/share/jupyter/labextensions/{NAME}/static/style.js",
    f"{MODULE}-{{version}}.data/data/share/jupyter/labextensions/{NAME}/schemas/{NAME}/session.json",
    f"{MODULE}-{{version}}.data/data/etc/jupyter/jupyter_server_config.d/{MODULE}.json",
)
#: In the npm package (besides lib/**, style/**, schema/**).
NPM_NEEDS = ("package.json", "README.md", "LICENSE", "lib/index.js", "lib/index.d.ts")
NPM_DIRS = ("lib/", "style/", "schema/")


class Failed(Exception):
    """A check did not hold; the message says which and why."""


class Report:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.checks = 0

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        began = time.monotonic()
        print(f"... {title}", flush=True)
        yield
        self.checks += 1
        print(f"ok  {title} ({time.monotonic() - began:.0f} s)", flush=True)


def run(
    *cmd: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> str:
    """Run ``cmd``; its output if it succeeds, else Failed with the end of its output."""
    try:
        done = subprocess.run(  # noqa: S603 - this script's own commands
            [str(c) for c in cmd],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise Failed(f"{' '.join(map(str, cmd))} did not finish within {timeout:g} s") from err
    out = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    if done.returncode != 0:
        tail = "\n".join(out.splitlines()[-30:])
        raise Failed(f"{' '.join(map(str, cmd))} exited {done.returncode}:\n{tail}")
    return out


def build_env() -> dict[str, str]:
    """This venv's tools first (jlpm, hatchling), then the caller's PATH (node)."""
    return {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}


def wheel_files(wheel: Path) -> dict[str, str]:
    """Every file of ``wheel`` -> sha256 of its bytes; RECORD as its sorted rows (the
    order of its lines is not content)."""
    files = {}
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            data = archive.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                rows = sorted(csv.reader(io.StringIO(data.decode())))
                data = json.dumps(rows).encode()
            files[info.filename] = hashlib.sha256(data).hexdigest()
    return files


def check_record(wheel: Path) -> None:
    """RECORD lists every file with its hash and size."""
    with zipfile.ZipFile(wheel) as archive:
        (record,) = (n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        rows = {row[0]: row for row in csv.reader(io.StringIO(archive.read(record).decode()))}
        for info in archive.infolist():
            if info.is_dir() or info.filename == record:
                continue
            row = rows.get(info.filename)
            data = archive.read(info)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            if row is None or row[1] != f"sha256={digest.decode()}" or row[2] != str(len(data)):
                raise Failed(f"{wheel.name}: RECORD does not match {info.filename}")


def metadata_version(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (meta,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(meta).decode()
    return re.search(r"^Version: (\S+)$", text, re.MULTILINE).group(1)


def check_sdist(sdist: Path, version: str) -> list[str]:
    with tarfile.open(sdist) as archive:
        names = [m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name]
        top = {m.name.split("/", 1)[0] for m in archive.getmembers()}
    if top != {f"{MODULE}-{version}"}:
        raise Failed(f"{sdist.name}: top folder {sorted(top)}, not {MODULE}-{version}")
    missing = [n for n in SDIST_NEEDS if n not in names]
    dev = [n for n in names if n.startswith(DEV_ONLY) or "/node_modules/" in n]
    if missing or dev:
        raise Failed(f"{sdist.name}: missing {missing}; development files {dev[:10]}")
    return names


def check_wheel(wheel: Path, version: str) -> None:
    files = wheel_files(wheel)
    missing = [n.format(version=version) for n in WHEEL_NEEDS]
    missing = [n for n in missing if n not in files]
    dev = [n for n in files if n.startswith(DEV_ONLY) or "/tests/" in n or "/__tests__/" in n]
    if missing or dev:
        raise Failed(f"{wheel.name}: missing {missing}; development files {dev[:10]}")
    check_record(wheel)


def compare_wheels(ours: Path, rebuilt: Path) -> None:
    a, b = wheel_files(ours), wheel_files(rebuilt)
    only_a, only_b = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
    differ = sorted(n for n in a.keys() & b.keys() if a[n] != b[n])
    if only_a or only_b or differ:
        raise Failed(
            "the wheel rebuilt from the sdist is not the clone's wheel:\n"
            f"  only in the clone's: {only_a}\n  only in the rebuilt: {only_b}\n"
            f"  different contents: {differ}"
        )


def check_npm_pack(clone: Path, version: str) -> None:
    out = run("npm", "pack", "--dry-run", "--json", "--ignore-scripts", cwd=clone, env=build_env())
    (pack,) = json.loads(out[out.index("[") :])
    names = [f["path"] for f in pack["files"]]
    if pack["name"] != NAME or pack["version"] != version:
        raise Failed(f"npm pack: {pack['name']}@{pack['version']}, not {NAME}@{version}")
    missing = [n for n in NPM_NEEDS if n not in names]
    missing += [d for d in NPM_DIRS if not any(n.startswith(d) for n in names)]
    stray = [n for n in names if n not in NPM_NEEDS and not n.startswith(NPM_DIRS)]
    tests = [n for n in names if "__tests__" in n or ".spec." in n or ".test." in n]
    if missing or stray or tests:
        raise Failed(f"npm pack: missing {missing}; not for npm {stray[:10]}; tests {tests[:10]}")


def check_version_source(clone: Path, version: str) -> None:
    """package.json holds the version; pyproject takes it from there (hatch-nodejs-version)."""
    pyproject = (clone / "pyproject.toml").read_text()
    project = pyproject.split("[project]", 1)[1].split("\n[", 1)[0]
    if re.search(r"^version\s*=", project, re.MULTILINE) or '"version"' not in project:
        raise Failed("pyproject.toml: [project] must list version as dynamic, not set it")
    if not re.search(r'\[tool\.hatch\.version\]\nsource = "nodejs"', pyproject):
        raise Failed('pyproject.toml: [tool.hatch.version] source must be "nodejs"')
    if not re.fullmatch(r"\d+\.\d+\.\d+(?:[-.]?(?:a|b|rc|alpha|beta)\.?\d+)?", version):
        raise Failed(f"package.json version {version!r} is not a release version")


def fresh_venv(work: Path, wheel: Path) -> Path:
    """A venv with JupyterLab (the lock's pins) and ``wheel``, installed with no Node.js
    on PATH; returns its bin folder."""
    venv = work / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    bin_dir = venv / "bin"
    no_node = {
        "PATH": str(bin_dir),
        "HOME": str(work / "home"),
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip"),
        "JUPYTER_CONFIG_DIR": str(work / "home" / ".jupyter"),
    }
    if shutil.which("node", path=no_node["PATH"]) or shutil.which("jlpm", path=no_node["PATH"]):
        raise Failed("node or jlpm is on the fresh venv's PATH")
    pip = (sys.executable, "-m", "pip", "--python", venv / "bin" / "python")
    run(
        *pip,
        *("install", "-q", "--no-compile", "--disable-pip-version-check", "-c", LOCK),
        *("jupyterlab", wheel),
        cwd=work,
        env={**os.environ, **no_node},
    )
    return bin_dir


def check_installed(bin_dir: Path, work: Path, version: str) -> None:
    env = {"PATH": str(bin_dir), "HOME": str(work / "home")}
    env["JUPYTER_CONFIG_DIR"] = str(work / "home" / ".jupyter")
    labext = run(bin_dir / "jupyter", "labextension", "list", cwd=work, env=env)
    expected = rf"{NAME} v{re.escape(version)} enabled OK \(python, {NAME}\)"
    if not re.search(expected, labext):
        raise Failed(f"jupyter labextension list does not show it enabled and OK:\n{labext}")
    server = run(bin_dir / "jupyter", "server", "extension", "list", cwd=work, env=env)
    if not (
        re.search(rf"{MODULE} enabled", server)
        and re.search(rf"{MODULE} {re.escape(version)} OK", server)
    ):
        raise Failed(f"jupyter server extension list does not show it enabled and OK:\n{server}")
    code = f"import {MODULE}; print({MODULE}.__version__)"
    got = run(bin_dir / "python", "-c", code, cwd=work, env=env).strip()
    if got != version:
        raise Failed(f"{MODULE}.__version__ is {got!r}, package.json says {version!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    report = Report()
    head = run("git", "rev-parse", "HEAD", cwd=ROOT).strip()
    dirty = run("git", "status", "--porcelain", "--untracked-files=no", cwd=ROOT).strip()
    print(
        f"check-release of {head[:12]}" + (" (uncommitted changes are not checked)" * bool(dirty))
    )
    work = Path(tempfile.mkdtemp(prefix="check-release-"))
    try:
        # Built at one path: the labextension's chunk ids hash the module paths, so
        # the clone and the unpacked sdist are built in turn at ``tree``.
        tree, dist = work / "tree", work / "dist"
        with report.step("clean clone of HEAD; jlpm install --immutable"):
            run("git", "clone", "-q", "--no-checkout", ROOT, tree, cwd=work)
            run("git", "checkout", "-q", "--detach", head, cwd=tree)
            if os.path.lexists(tree / "node_modules"):  # a tracked link would install there
                raise Failed("HEAD tracks node_modules; the clone must install its own")
            run(BIN / "jlpm", "install", "--immutable", cwd=tree, env=build_env())
        version = json.loads((tree / "package.json").read_text())["version"]
        with report.step(f"version {version} in package.json only; pyproject reads it"):
            check_version_source(tree, version)
        with report.step("build the sdist and the wheel"):
            run(BIN / "hatchling", "build", "-t", "sdist", "-d", dist, cwd=tree, env=build_env())
            # The labextension the sdist build made goes into the wheel as it is (the
            # next step proves that the sdist's sources rebuild it).
            skip_npm = {**build_env(), "SKIP_JUPYTER_BUILDER": "1"}
            run(BIN / "hatchling", "build", "-t", "wheel", "-d", dist, cwd=tree, env=skip_npm)
            (sdist,) = dist.glob("*.tar.gz")
            (wheel,) = dist.glob("*.whl")
            if metadata_version(wheel) != version:
                raise Failed(f"{wheel.name}: METADATA version is not {version}")
        with report.step(f"{sdist.name}: sources and labextension, no dev files"):
            check_sdist(sdist, version)
        with report.step(f"{wheel.name}: package, labextension, server config; RECORD"):
            check_wheel(wheel, version)
            labext = f"{MODULE}/labextension/package.json"
            built = json.loads((tree / labext).read_text())
            if built["version"] != version or "_build" not in built.get("jupyterlab", {}):
                raise Failed(f"{labext}: not the built labextension of {version}")
        with report.step("npm pack --dry-run: lib/, style/, schema/, package.json, README"):
            check_npm_pack(tree, version)
        with report.step("the sdist rebuilds the same wheel (labextension from its sources)"):
            clone = tree.rename(work / "clone")
            with tarfile.open(sdist) as archive:
                archive.extractall(work / "unpacked", filter="data")
            (work / "unpacked" / f"{MODULE}-{version}").rename(tree)
            if (tree / "yarn.lock").read_bytes() != (clone / "yarn.lock").read_bytes():
                raise Failed("the sdist's yarn.lock is not the clone's")
            # The clone's node packages are the install of this very yarn.lock.
            (clone / "node_modules").rename(tree / "node_modules")
            shutil.rmtree(tree / MODULE / "labextension")
            rebuilt_dir = work / "from-sdist"
            run(
                BIN / "hatchling",
                "build",
                "-t",
                "wheel",
                "-d",
                rebuilt_dir,
                cwd=tree,
                env=build_env(),
            )
            (rebuilt,) = rebuilt_dir.glob("*.whl")
            compare_wheels(wheel, rebuilt)
        with report.step("fresh venv without Node.js: pip install jupyterlab and the wheel"):
            bin_dir = fresh_venv(work, wheel)
        with report.step("jupyter labextension list / server extension list: enabled, OK"):
            check_installed(bin_dir, work, version)
    except Failed as failure:
        print(f"FAIL {failure}", flush=True)
        print(f"check-release failed after {time.monotonic() - report.start:.0f} s")
        return 1
    finally:
        if args.keep:
            print(f"scratch folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"check-release: all {report.checks} checks OK in {time.monotonic() - report.start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
