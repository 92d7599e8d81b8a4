"""The docs stay true to the code they describe."""
from __future__ import annotations

from core.settings import PROJECT_ROOT, SPECS
from stack.procfile import load_processes


def test_every_setting_is_documented():
    text = (PROJECT_ROOT / "docs" / "operations.md").read_text()
    missing = [s.variable for s in SPECS if f"`{s.variable}`" not in text]
    assert missing == []


def test_every_procfile_process_is_in_the_architecture_doc():
    text = (PROJECT_ROOT / "docs" / "architecture.md").read_text()
    for name in load_processes(PROJECT_ROOT / "Procfile"):
        assert f"| {name}" in text


def test_readme_gives_the_two_commands_and_ci_calls_make_test():
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()
