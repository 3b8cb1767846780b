"""Developer tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``, ``nox -s autobahn``,
``nox -s docs``."""

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


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into docs/_build/html, warnings as errors."""
    session.install("-e", ".[docs]")
    session.run(
        "sphinx-build", "-W", "--keep-going", "-n", "-b", "html", "docs", "docs/_build/html", *session.posargs
    )
