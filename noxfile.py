"""Development tasks: ``nox -s tests``, ``lint``, ``typecheck``, ``docs`` and ``bench``."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint", "typecheck"]

LINT_PATHS = ["src", "tests", "examples", "benchmarks", "noxfile.py"]


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite against real servers that the tests start on loopback."""
    session.install(".[all,test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install("ruff")
    session.run("ruff", "check", *LINT_PATHS)
    session.run("ruff", "format", "--check", *LINT_PATHS)


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the library, tests, examples and benchmarks with mypy in strict mode."""
    session.install("-e", ".[all,test,bench,typing]", "nox")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/ with mkdocs, failing on any warning.

    ``--strict`` turns the link, anchor and navigation checks set in
    mkdocs.yml into errors. The build reads only local files, so the network
    is needed only to install the ``docs`` extra.
    """
    session.install(".[docs]")
    session.run("mkdocs", "build", "--strict", "--clean", "--site-dir", "site", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark script; each compares JiVS with its peer libraries in one run."""
    session.install(".[bench]")
    scripts = sorted(Path("benchmarks").glob("bench_*.py"))
    for script in scripts:
        session.run("python", str(script), *session.posargs)
