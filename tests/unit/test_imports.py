"""Imports run one way: every import statement of the project, checked against the table of
docs/architecture.md ("may import"), and pymongo only in store/."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from core.settings import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "architecture.md"
DRIVER_ONLY_IN = {"pymongo": "store", "bson": "store"}
#: The MongoDB server's conformance tests speak pymongo alone on purpose: they test the
#: server store/ relies on, and nothing of the project.
DRIVER_ALSO_IN = "tests/conformance/"
#: The one use outside store/: the settings check MONGO_URL with the driver's own URI
#: parser (pure: no connection), so a URL pymongo would refuse is refused at start.
DRIVER_PARSER = ("pymongo.uri_parser", "core/settings.py")


def allowed_imports() -> dict[str, set[str] | None]:
    """package -> the project packages it may import (None: any)."""
    table: dict[str, set[str] | None] = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.fullmatch(r"`[a-z_]+/`", cells[0]):
            continue
        package, rule = cells[0].strip("`/"), cells[2]
        if rule == "everything":
            table[package] = None
        elif rule.startswith("everything but"):
            table[package] = {"*"} - set(re.findall(r"`([a-z_]+)`", rule))
        else:
            table[package] = set(re.findall(r"`([a-z_]+)`", rule))
    return table


def imports_of(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
    return found


def forbidden_arrows(root: Path, table: dict[str, set[str] | None]) -> list[str]:
    wrong = []
    for package in table:
        for path in sorted((root / package).rglob("*.py")):
            for module, line in imports_of(path):
                top = module.split(".")[0]
                where = f"{path.relative_to(root)}:{line} imports {module}"
                relative = str(path.relative_to(root))
                if (top in DRIVER_ONLY_IN and package != DRIVER_ONLY_IN[top]
                        and not relative.startswith(DRIVER_ALSO_IN)
                        and (module, relative) != DRIVER_PARSER):
                    wrong.append(f"{where} (only {DRIVER_ONLY_IN[top]}/ may)")
                if top == package or top not in table:
                    continue
                rule = table[package]
                if top == "tests" and package != "tests":
                    wrong.append(f"{where} (nothing imports tests)")
                elif rule is not None and "*" not in rule and top not in rule:
                    wrong.append(f"{where} ({package}/ may import {sorted(rule) or 'nothing'})")
    return wrong


def test_the_table_names_every_package():
    table = allowed_imports()
    packages = {p.parent.name for p in PROJECT_ROOT.glob("*/__init__.py")} | {"bench"}
    assert packages - {"tests"} <= set(table), "a package missing from docs/architecture.md"
    assert table["core"] == set() and table["store"] == {"core"}


def test_no_import_goes_against_the_table():
    assert forbidden_arrows(PROJECT_ROOT, allowed_imports()) == []


def test_a_forbidden_arrow_is_caught(tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "bad.py").write_text("from indexer.effects import CreatedUtxo\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "bad.py").write_text("def f():\n    import pymongo\n")
    table = {"store": {"core"}, "app": {"core", "store"}, "indexer": {"store"}}
    assert sorted(forbidden_arrows(tmp_path, table)) == [
        "app/bad.py:2 imports pymongo (only store/ may)",
        "store/bad.py:1 imports indexer.effects (store/ may import ['core'])"]
