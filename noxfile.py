"""Developer tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``, ``nox -s autobahn``."""

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package and the tests."""
    session.install("-e", ".[test]", "mypy", "nox")
    session.run("mypy", "--strict")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark harness: triochat against its peers (``nox -s bench -- --quick``)."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks.run", *session.posargs)


@nox.session
def autobahn(session: nox.Session) -> None:
    """The Autobahn|Testsuite, every section with compression (``nox -s autobahn -- --help`` for options)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.conformance", *session.posargs)
