"""A module imported when it is first used, not when its importer is: for the builders
that pull in pycardano (1.5 to 3 s of a process's start), which a worker, a CLI command
or a watcher that builds nothing should not pay."""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """`name`, loaded on its first attribute access (importlib's LazyLoader); the module
    already loaded if it is."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
