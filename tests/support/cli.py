"""Running `dhl ...` through the CLI's own entry (`dhl.cli.main`) in the test's process:
the same parser, commands and output as the subprocess, without a Python start per
command. Each test module keeps one real subprocess run of its command group."""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
from typing import Iterable, Mapping


def run_dhl(args: list[str], env: Mapping[str, str] | None = None,
            not_inherited: Iterable[str] = ()) -> subprocess.CompletedProcess[str]:
    """`dhl ARGS` with `env` over the machine's environment (less `not_inherited`, the
    settings a machine or .env must not slip in), stdout and stderr captured, the exit
    status as a subprocess would give it. The environment is restored afterwards."""
    from dhl.cli import main

    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    if env is not None:
        dropped = frozenset(not_inherited)
        os.environ.clear()
        os.environ.update({k: v for k, v in saved.items() if k not in dropped})
        os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(["dhl", *args], code, out.getvalue(), err.getvalue())
