"""`DATA_DIR/run.env`: where the running stack's own services are, for `dhl state` and
`dhl reprocess`.

Only the stack that holds DATA_DIR's lock writes and removes it, so a second `dhl run`
refused in the same DATA_DIR leaves the first one's file alone.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

RUNTIME_ENV = "run.env"
#: The line with the pid of the `dhl run` that wrote the file: `dhl config` and `dhl state`
#: trust the file only while that process lives (a SIGKILLed run leaves it behind).
RUNTIME_PID = "DHL_RUN_PID"

#: What a running stack writes down, when it chose the value itself.
RUNTIME_KEYS = ("MONGO_URL", "REDIS_URL", "REDIS_NAMESPACE", "CARDANO_NODE", "CARDANO_NETWORK",
                "FOLLOW_FROM", "LIQWID_API_URL", "SURF_API_URL", "DEXHUNTER_API_URL")


def runtime_env_path(data_dir: Path) -> Path:
    return data_dir / RUNTIME_ENV


def write_runtime_env(data_dir: Path, env: Mapping[str, str], operator_set: frozenset[str]) -> Path:
    """Write the values this run chose; an operator's own URLs (and their passwords) are
    theirs to keep, not written to disk."""
    path = runtime_env_path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={env[k]}\n" for k in RUNTIME_KEYS
                            if env.get(k) and k not in operator_set)
                    + f"{RUNTIME_PID}={os.getpid()}\n")
    return path


def read_runtime_env(data_dir: Path) -> dict[str, str]:
    """The running stack's values, or nothing when no stack runs from `data_dir`."""
    from dotenv import dotenv_values

    path = runtime_env_path(data_dir)
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}
