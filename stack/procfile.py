"""Reads the Procfile: the one list of the processes that make up the system."""
from __future__ import annotations

from pathlib import Path

from honcho.environ import parse_procfile


def load_processes(path: Path) -> dict[str, str]:
    """name -> shell command, in file order."""
    return dict(parse_procfile(path.read_text()).processes)
