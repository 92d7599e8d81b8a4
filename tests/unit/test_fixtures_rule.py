"""Missing recorded fixtures skip a test locally but fail it under CI=true."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT

TINY_TEST = '''
from tests.chain.test_ledger_fixtures import cardano_dir
from tests.support.fixtures import fixtures_dir


def test_needs_the_fixtures():
    fixtures_dir()


def test_needs_the_ledger_fixtures():
    cardano_dir()
'''


def run_tiny(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the project's settings
    (tmp_path / "test_tiny.py").write_text(TINY_TEST)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["FIXTURES_DIR"] = str(tmp_path / "nowhere")
    if ci is not None:
        env["CI"] = ci
    # -m pytest from the project root: `tests.support` imports as in the real suite.
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider",
                           str(tmp_path / "test_tiny.py")], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_missing_fixtures_skip_outside_ci(tmp_path):
    result = run_tiny(tmp_path, ci=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 skipped" in result.stdout
    assert f"not found at {tmp_path / 'nowhere' / 'cardano'}" in result.stdout


@pytest.mark.parametrize("value, on", [("true", True), ("TRUE", True), ("1", True),
                                       ("yes", True), ("false", False), ("", False),
                                       ("0", False)])
def test_ci_is_read_as_ci_systems_set_it(monkeypatch, value, on):
    from tests.support.fixtures import on_ci

    monkeypatch.setenv("CI", value)
    assert on_ci() is on


def test_missing_fixtures_fail_the_run_under_ci(tmp_path):
    result = run_tiny(tmp_path, ci="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 failed" in result.stdout and "skipped" not in result.stdout
    assert (f"recorded fixtures not found at {tmp_path / 'nowhere' / 'cardano'} (set "
            "FIXTURES_DIR; default ../shared/fixtures); CI=true, so missing fixtures fail the "
            "run") in result.stdout
