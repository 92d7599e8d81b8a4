"""No key material anywhere but MASTER_KEY_FILE (issue 10, points 1 and 6): after a live
position opens and closes (and whatever the other live tests ran on the same stack
before it), every log of every process (workers, follower, sandbox), every answer of the
CLI and the app, the whole MongoDB database and every Redis key of the namespace are
searched for the master key's words and for the private keys it derives — root,
accounts, payment and stake keys of every managed user, as hex and as raw bytes."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import redis as redis_lib

from tests.live.conftest import USERS
from tests.live.support import LiveStack, master_mnemonic
from tests.positions.support import STRIKE, dhl, one_json
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

#: Consecutive words of the mnemonic that count as a leak (3 of 24 is already too many).
WORD_RUN = 3


def secrets(mnemonic: str, accounts: list[int]) -> dict[str, bytes]:
    """Every private key the master key derives for `accounts`, by name: the extended
    keys (64 bytes), each of their halves and their chain codes."""
    from pycardano import HDWallet

    root = HDWallet.from_mnemonic(mnemonic)
    keys = {"root": root}
    for account in accounts:
        base = f"m/1852'/1815'/{account}'"
        keys[f"account {account}"] = root.derive_from_path(base)
        keys[f"account {account} payment"] = root.derive_from_path(f"{base}/0/0")
        keys[f"account {account} stake"] = root.derive_from_path(f"{base}/2/0")
    found: dict[str, bytes] = {}
    for name, key in keys.items():
        found[f"{name} key"] = bytes(key.xprivate_key)
        found[f"{name} key (left half)"] = bytes(key.xprivate_key[:32])
        found[f"{name} key (right half)"] = bytes(key.xprivate_key[32:])
        found[f"{name} chain code"] = bytes(key.chain_code)
    return found


def flat(value: Any) -> bytes:
    """A stored document's every key and value as bytes: text as UTF-8, binary as it is
    and as hex."""
    if isinstance(value, dict):
        return b"\n".join(flat(k) + b"=" + flat(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return b"\n".join(flat(v) for v in value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value) + b" " + bytes(value).hex().encode()
    return str(value).encode()


def leaks(text: bytes, where: str, keys: dict[str, bytes], words: list[str]) -> Iterator[str]:
    lowered = text.lower()
    for name, key in keys.items():
        if key.hex().encode() in lowered or key in text:
            yield f"{where}: the {name}"
    flat = b" ".join(lowered.split())
    for start in range(len(words) - WORD_RUN + 1):
        run = " ".join(words[start:start + WORD_RUN]).encode()
        if run in flat:
            yield f"{where}: the master key's words {run.decode()!r}"


def test_no_key_material_in_any_log_response_or_store(
        live: LiveStack, worker: WorkerProcess, redis_url: str) -> None:
    stack = live
    answers: list[tuple[str, bytes]] = []

    def cli(*args: str) -> dict[str, Any]:
        result = dhl(stack.paper, *args)
        answers.append((f"dhl positions {' '.join(args)}",
                        (result.stdout + result.stderr).encode()))
        return one_json(result)

    opened = cli("open", "--side", "long", "--asset", STRIKE, "--collateral", "ADA:50",
                 "--leverage", "1.5", "--venue", "surf", "--live", "--user", "judy")
    pid = opened["position"]
    stack.paper.wait_state(pid, "open", 180, worker)
    cli("account", "--user", "judy")
    cli("show", pid)
    cli("close", pid)
    stack.paper.wait_state(pid, "settled", 240, worker)
    cli("show", pid)

    from app import create_app

    app = create_app(stack.paper.settings)
    client = app.test_client()
    for method, path, body in (("GET", f"/positions/{pid}/unsigned", None),
                               ("POST", f"/positions/{pid}/witnesses",
                                {"leg": "open-00-swap-a1", "witness_set": "a0"}),
                               ("GET", "/ready", None), ("GET", "/openapi.json", None)):
        answer = client.open(path, method=method, json=body)
        answers.append((f"{method} {path} ({answer.status_code})", answer.data))
    app.extensions["dhl"].close()

    db = stack.paper.desk.db
    accounts = sorted(int(doc["account"]) for doc in db["accounts"].find({}, {"account": 1}))
    assert len(accounts) == len(USERS), accounts
    mnemonic = master_mnemonic()
    keys = secrets(mnemonic, accounts)
    words = mnemonic.split()
    sources: list[tuple[str, bytes]] = list(answers)
    for path in sorted(Path(stack.tmp).rglob("*")):
        if path.is_file() and path != stack.key_file:
            sources.append((str(path.relative_to(stack.tmp)), path.read_bytes()))
    sources.append(("dhl sandbox's output", "".join(stack.lines).encode()))
    for name in db.list_collection_names():
        for doc in db[name].find():
            sources.append((f"MongoDB {name} {doc.get('_id')}", flat(doc)))
    keyspace = redis_lib.Redis.from_url(redis_url)
    namespace = stack.paper.settings.redis_namespace
    for key in keyspace.scan_iter(match=f"*{namespace}*"):
        sources.append((f"Redis {key!r}", keyspace.dump(key) or b""))
    keyspace.close()
    logs = [where for where, _ in sources if where.endswith(".log")]
    assert {"follower.log", "sandbox.log"} <= set(logs) and \
        any(where.startswith("worker-") for where in logs), logs
    found = [leak for where, text in sources for leak in leaks(text, where, keys, words)]
    assert found == []
    # The search finds what it looks for: a line with the key, or three of its words.
    probe = f"oops {keys['account 0 payment key'].hex()} {' '.join(words[5:8])}".encode()
    caught = list(leaks(probe, "probe", keys, words))
    assert "probe: the account 0 payment key" in caught and \
        f"probe: the master key's words {' '.join(words[5:8])!r}" in caught, caught
