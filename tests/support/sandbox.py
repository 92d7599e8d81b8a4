"""Keys, addresses and a signed payment for the sandbox chain's tests."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator

import cbor2
from nacl.signing import SigningKey

MAGIC = 42
ALICE, BOB = (SigningKey(hashlib.blake2b(n, digest_size=32).digest()) for n in (b"a", b"b"))


def address(k: SigningKey) -> bytes:
    return bytes([0x61]) + hashlib.blake2b(bytes(k.verify_key), digest_size=28).digest()


def pay(ref: tuple[bytes, int], lovelace: int, *, signer: SigningKey | None = ALICE,
        ttl: int = 10_000) -> bytes:
    body: dict[int, Any] = {0: [list(ref)], 1: [{0: address(BOB), 1: 30_000_000},
                                             {0: address(ALICE), 1: lovelace - 30_200_000}],
                            2: 200_000, 3: ttl}
    digest = hashlib.blake2b(cbor2.dumps(body), digest_size=32).digest()
    wits = {0: [[bytes(signer.verify_key), signer.sign(digest).signature]]} if signer else {}
    return cbor2.dumps([body, wits, True, None])


def http_base(lines: list[str]) -> str | None:
    """The base URL of a `dhl sandbox --http-port` (its UTxOs and /sandbox/...), from the
    lines it printed; None before it printed it."""
    for line in list(lines):
        if line.startswith("control on ") and line.split()[2].endswith("/sandbox/"):
            return line.split()[2].removesuffix("/sandbox/")
    return None


@contextmanager
def dhl_sandbox(socket: Path, *args: str, env: dict[str, str] | None = None,
                log: Path | None = None) -> Iterator[list[str]]:
    """`dhl sandbox --listen unix://SOCKET ARGS` as a process; yields the lines it prints
    (collected as they come: `funding tx ID ...`, with --http-port the URLs, then
    `listening ...`); its log (stderr) goes to `log`, if given; stopped (TERM, then KILL)
    whatever happens."""
    from stack.processes import stop_process

    with ExitStack() as files:
        errors = files.enter_context(open(log, "ab")) if log else subprocess.DEVNULL
        proc = subprocess.Popen(
            [sys.executable, "-m", "dhl", "sandbox", "--listen", f"unix://{socket}", *args],
            stdout=subprocess.PIPE, stderr=errors, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True).start()
        try:
            yield lines
        finally:
            stop_process(proc)
