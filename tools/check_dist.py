#!/usr/bin/env python3
"""Check the sdist and wheel in ``dist/`` the way users get them (run by ``make dist``).

Usage (from the repository root, after ``python -m build --outdir dist``)::

    .venv/bin/python tools/check_dist.py [DIST_DIR] [--no-install] [--keep]

1. Contents. The wheel holds the package ``scyllabatch`` (every module of the checkout) and the
   pytest plugin module ``pytest_scyllabatch`` only, the compiled speedups, their ``.pyi``
   stubs, ``py.typed`` and the node tool's ``cassandra-pom.xml``, and no ``.pyx``/``.c``. The
   sdist holds the ``.pyx`` sources, ``setup.py``, ``pyproject.toml``, the docs and the tests,
   and no build products.
2. Installs. Each artifact goes into a fresh virtualenv in a temporary directory (with the
   ``test`` extra), and the unit tests (``UNIT_TESTS``: no database) run from another
   temporary directory holding copies of ``tests/`` and ``pyproject.toml`` only, so the checkout
   cannot be imported:

   - the wheel, with ``SCYLLABATCH_REQUIRE_EXTENSIONS=1``: ``IMPLEMENTATION == "cython"``;
   - the sdist, installed with ``SCYLLABATCH_NO_EXTENSIONS=1`` and run without any flag:
     nothing compiled is installed and ``IMPLEMENTATION == "python"``.

3. Extras. The wheel goes into one more fresh virtualenv with every optional extra that
   ``pyproject.toml`` declares (read from it, so a new extra is covered as soon as it exists);
   ``pip check`` must find the set consistent, and there the pytest plugin must load through its
   ``pytest11`` entry point: ``pytest --fixtures`` lists its fixtures, and a test file that uses
   none of them passes without importing scyllabatch.

   All three run concurrently; each one's output is printed when it fails.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "scyllabatch"
PLUGIN_MODULE = "pytest_scyllabatch"
PLUGIN_FIXTURES = (
    "scyllabatch_cluster",
    "scyllabatch_keyspace",
    "scyllabatch_store",
    "scyllabatch_async_store",
    "scyllabatch_store_options",
    "scyllabatch_benchmark",
)
NODE_POM = f"{PACKAGE}/testing/cassandra-pom.xml"
SPEEDUPS = ("codec", "stats", "writes")
SOURCE_SUFFIXES = {".pyx", ".pxd", ".c", ".h", ".cpp", ".html"}
BUILD_SUFFIXES = {".so", ".pyd", ".dylib", ".pyc", ".pyo"}
FLAGS = ("SCYLLABATCH_NO_EXTENSIONS", "SCYLLABATCH_REQUIRE_EXTENSIONS")
# The unit tests, no database: tests/integration is not even collected (its modules may read
# repository files at import). The same selection as test-command in [tool.cibuildwheel].
UNIT_TESTS = (
    "-m",
    "not integration",
    "-p",
    "no:cacheprovider",
    "-q",
    "tests",
    "--ignore=tests/integration",
)


class CheckError(Exception):
    """A distribution does not hold what it must."""


def version() -> str:
    text = (ROOT / PACKAGE / "_version.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if not match:
        raise CheckError(f"no __version__ in {PACKAGE}/_version.py")
    return match.group(1)


def extras() -> list[str]:
    """Every optional extra ``pyproject.toml`` declares."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    return sorted(project.get("optional-dependencies", {}))


def checkout_files(top: str, suffix: str) -> set[str]:
    """Files under ``top`` in the checkout (POSIX paths relative to the root), caches excluded."""
    return {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / top).rglob(f"*{suffix}")
        if "__pycache__" not in p.parts and p.is_file()
    }


def expect(problems: list[str], condition: bool, message: str) -> None:
    if not condition:
        problems.append(message)


def check_wheel(path: Path, ver: str) -> None:
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        names = {i.filename for i in infos}
        dist_info = f"{PACKAGE}-{ver}.dist-info"

        def read(name: str, default: str) -> str:
            member = f"{dist_info}/{name}"
            return zf.read(member).decode() if member in names else default

        top_level = read("top_level.txt", PACKAGE)
        metadata = read("METADATA", "")
    problems: list[str] = []
    expect(
        problems,
        not path.name.endswith("-none-any.whl"),
        f"{path.name} is a pure wheel: the speedups were not compiled",
    )
    tops = {PurePosixPath(n).parts[0] for n in names}
    expected_tops = {PACKAGE, f"{PLUGIN_MODULE}.py", dist_info}
    expect(
        problems,
        tops == expected_tops,
        f"top-level entries must be {sorted(expected_tops)} only: {sorted(tops)}",
    )
    expect(
        problems,
        sorted(top_level.split()) == sorted([PACKAGE, PLUGIN_MODULE]),
        f"top_level.txt lists {top_level.split()}",
    )
    expect(problems, NODE_POM in names, f"{NODE_POM} is missing")
    expect(problems, f"Version: {ver}\n" in metadata, f"METADATA does not say Version: {ver}")
    expect(problems, f"{dist_info}/licenses/LICENSE" in names, "LICENSE is missing")
    expect(problems, f"{PACKAGE}/py.typed" in names, "py.typed is missing")
    for mod in SPEEDUPS:
        base = f"{PACKAGE}/_speedups/{mod}"
        compiled = [n for n in names if re.fullmatch(rf"{re.escape(base)}(\.[^./]+)?\.(so|pyd)", n)]
        expect(problems, len(compiled) == 1, f"compiled {base} missing or doubled: {compiled}")
        expect(problems, f"{base}.pyi" in names, f"stub {base}.pyi is missing")
    missing = checkout_files(PACKAGE, ".py") - names
    expect(problems, not missing, f"modules of the checkout missing: {sorted(missing)}")
    sources = sorted(n for n in names if PurePosixPath(n).suffix in SOURCE_SUFFIXES)
    expect(problems, not sources, f"sources must not ship in the wheel: {sources}")
    caches = sorted(n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo")))
    expect(problems, not caches, f"bytecode in the wheel: {caches}")
    if problems:
        raise CheckError(f"{path.name}:\n  " + "\n  ".join(problems))
    print(f"{path.name}: {path.stat().st_size:,} bytes, {len(infos)} files")
    for info in sorted(infos, key=lambda i: i.filename):
        print(f"  {info.file_size:>9,}  {info.compress_size:>9,}  {info.filename}")


def check_sdist(path: Path, ver: str) -> None:
    root = f"{PACKAGE}-{ver}"
    with tarfile.open(path) as tf:
        names = {m.name for m in tf.getmembers() if m.isfile()}
    problems: list[str] = []
    outside = sorted(n for n in names if PurePosixPath(n).parts[0] != root)
    expect(problems, not outside, f"entries outside {root}/: {outside}")
    inside = {n.removeprefix(f"{root}/") for n in names}
    required = {
        "PKG-INFO",
        "setup.py",
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        f"{PACKAGE}/py.typed",
        f"{PLUGIN_MODULE}.py",
        NODE_POM,
        *(f"_speedups/{mod}.pyx" for mod in SPEEDUPS),
        *(f"{PACKAGE}/_speedups/{mod}.pyi" for mod in SPEEDUPS),
        *checkout_files(PACKAGE, ".py"),
        *checkout_files("tests", ".py"),
    }
    missing = sorted(required - inside)
    expect(problems, not missing, f"missing: {missing}")
    built = sorted(
        n
        for n in inside
        if PurePosixPath(n).suffix in BUILD_SUFFIXES
        or "__pycache__" in n
        or (n.startswith("_speedups/") and n.endswith((".c", ".html")))
    )
    expect(problems, not built, f"build products must not ship in the sdist: {built}")
    if problems:
        raise CheckError(f"{path.name}:\n  " + "\n  ".join(problems))
    print(f"{path.name}: {path.stat().st_size:,} bytes, {len(names)} files")


@dataclass
class InstallCheck:
    """Install one artifact into a fresh virtualenv and run the unit tests against it."""

    artifact: Path
    implementation: str
    install_env: dict[str, str]
    run_env: dict[str, str]
    keep: bool = False
    # The extras installed with the artifact; with more than the test extra, the check is the
    # extras' (pip check, the plugin's entry point) instead of the unit tests.
    extras: tuple[str, ...] = ("test",)

    def run(self) -> tuple[bool, str]:
        log: list[str] = []
        work = Path(tempfile.mkdtemp(prefix=f"{PACKAGE}-dist-{self.implementation}-"))
        started = time.monotonic()
        try:
            ok = self._run(work, log)
        except (CheckError, subprocess.CalledProcessError) as exc:
            log.append(f"FAILED: {exc}")
            ok = False
        finally:
            if not self.keep:
                shutil.rmtree(work, ignore_errors=True)
        took = time.monotonic() - started
        label = self.implementation + (f" [{','.join(self.extras)}]" if self.all_extras else "")
        head = f"{self.artifact.name} -> {label}: {'ok' if ok else 'FAILED'}"
        head += f" in {took:.0f}s" + (f" (kept in {work})" if self.keep else "")
        return ok, "\n".join([head, *(log if not ok else log[-1].splitlines()[-1:])])

    @property
    def all_extras(self) -> bool:
        return self.extras != ("test",)

    def _run(self, work: Path, log: list[str]) -> bool:
        venv = work / "venv"
        bindir = venv / ("Scripts" if os.name == "nt" else "bin")
        python = bindir / ("python.exe" if os.name == "nt" else "python")
        base_env = {
            k: v
            for k, v in os.environ.items()
            if k not in {*FLAGS, "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
        }
        base_env["PATH"] = os.pathsep.join([str(bindir), base_env.get("PATH", "")])
        base_env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

        def call(args: list[str], env: dict[str, str], cwd: Path) -> str:
            log.append("$ " + " ".join(args))
            proc = subprocess.run(
                args,
                cwd=cwd,
                env={**base_env, **env},
                capture_output=True,
                text=True,
                check=False,
            )
            log.append((proc.stdout + proc.stderr).rstrip())
            if proc.returncode:
                raise CheckError(f"exit status {proc.returncode}: {' '.join(args)}")
            return proc.stdout

        # The run directory holds copies of the tests and pytest's configuration, nothing else.
        rundir = work / "run"
        shutil.copytree(
            ROOT / "tests", rundir / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        shutil.copy2(ROOT / "pyproject.toml", rundir / "pyproject.toml")

        call([sys.executable, "-m", "venv", str(venv)], {}, work)
        requirement = f"{self.artifact}[{','.join(self.extras)}]"
        call(
            [str(python), "-m", "pip", "install", "-q", requirement],
            self.install_env,
            rundir,
        )
        probe = (
            "import pathlib, scyllabatch; "
            "pkg = pathlib.Path(scyllabatch.__file__).parent; "
            "print(scyllabatch.IMPLEMENTATION, scyllabatch.__version__, pkg, "
            "len([*pkg.rglob('*.so'), *pkg.rglob('*.pyd')]))"
        )
        impl, ver, pkgdir, n_compiled = call(
            [str(python), "-c", probe], self.run_env, rundir
        ).split()
        if impl != self.implementation:
            raise CheckError(f"IMPLEMENTATION is {impl!r}, expected {self.implementation!r}")
        if ver != version():
            raise CheckError(f"installed version {ver} != {version()}")
        if not Path(pkgdir).resolve().is_relative_to(venv.resolve()):
            raise CheckError(f"scyllabatch imported from {pkgdir}, not from the fresh venv")
        if (self.implementation == "python") != (n_compiled == "0"):
            raise CheckError(f"{n_compiled} compiled modules installed for {impl}")
        if self.all_extras:
            call([str(python), "-m", "pip", "check"], self.run_env, rundir)
            check_plugin(python, work / "plugin", lambda args, cwd: call(args, self.run_env, cwd))
        else:
            call([str(python), "-m", "pytest", *UNIT_TESTS], self.run_env, rundir)
        return True


UNUSED_PLUGIN_TEST = f"""
import sys


def test_the_plugin_is_loaded_and_imported_nothing():
    assert "{PLUGIN_MODULE}" in sys.modules
    assert "{PACKAGE}" not in sys.modules
    assert "cassandra" not in sys.modules
"""


def check_plugin(python: Path, where: Path, call: Callable[[list[str], Path], str]) -> None:
    """The pytest plugin loads through its entry point in an empty project directory."""
    where.mkdir()
    (where / "test_unused.py").write_text(UNUSED_PLUGIN_TEST)
    # pytest-asyncio (of the test extra) warns on start-up without its ini option: not ours.
    quiet = ["-p", "no:cacheprovider", "-p", "no:asyncio"]
    listed = call([str(python), "-m", "pytest", "--fixtures", *quiet], where)
    missing = [name for name in PLUGIN_FIXTURES if name not in listed]
    if missing:
        raise CheckError(f"pytest --fixtures does not list the plugin's {missing}")
    ran = call([str(python), "-m", "pytest", *quiet, "test_unused.py"], where)
    if not re.search(r"^plugins:.*\bscyllabatch-", ran, re.MULTILINE):
        raise CheckError("pytest's header does not list the scyllabatch plugin")


def find_one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    if len(found) != 1:
        raise CheckError(f"expected one {pattern} in {dist}, found {[p.name for p in found]}")
    return found[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dist", nargs="?", type=Path, default=ROOT / "dist")
    parser.add_argument("--no-install", action="store_true", help="check contents only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary virtualenvs")
    args = parser.parse_args(argv)
    ver = version()
    try:
        wheel = find_one(args.dist, f"{PACKAGE}-{ver}-*.whl")
        sdist = find_one(args.dist, f"{PACKAGE}-{ver}.tar.gz")
        check_wheel(wheel, ver)
        check_sdist(sdist, ver)
    except CheckError as exc:
        print(f"check_dist: {exc}", file=sys.stderr)
        return 1
    if args.no_install:
        return 0
    checks = [
        InstallCheck(
            wheel.resolve(), "cython", {}, {"SCYLLABATCH_REQUIRE_EXTENSIONS": "1"}, args.keep
        ),
        InstallCheck(sdist.resolve(), "python", {"SCYLLABATCH_NO_EXTENSIONS": "1"}, {}, args.keep),
        InstallCheck(
            wheel.resolve(),
            "cython",
            {},
            {"SCYLLABATCH_REQUIRE_EXTENSIONS": "1"},
            args.keep,
            extras=tuple(extras()),
        ),
    ]
    with concurrent.futures.ThreadPoolExecutor(len(checks)) as pool:
        results = list(pool.map(InstallCheck.run, checks))
    for _ok, report in results:
        print(report)
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
