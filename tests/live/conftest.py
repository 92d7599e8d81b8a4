"""One live stack for every live test (tests/live/support.py): the sandbox, the stubs,
the follower and the namespace are started once; each test starts the workers it needs
and uses managed accounts of its own (USERS), so its positions and UTxOs are its own."""
from __future__ import annotations

from contextlib import ExitStack
from typing import Iterator

import pytest

from tests.live.support import LiveStack, live_stack
from tests.support.worker import WorkerProcess

#: The managed accounts the sandbox funds: one or more per test.
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")


@pytest.fixture(scope="package")
def live(mongo_url: str, redis_url: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    from pycardano import Address

    from tests.support.sandbox import ALICE, address

    wallet = str(Address.from_primitive(address(ALICE)))  # a trader's own (wallet signing)
    with live_stack(mongo_url, redis_url, tmp_path_factory.mktemp("live"), USERS,
                    wallets=(wallet,)) as stack:
        stack.extra.update(wallet=wallet, key=ALICE)
        yield stack


@pytest.fixture(scope="module")
def worker(live: LiveStack, request: pytest.FixtureRequest) -> Iterator[WorkerProcess]:
    """A worker (prefork, two pool processes) for the tests of one module; a test that
    needs other workers (killed, two at once) does not use it and starts its own, in a
    module of its own (so that no other worker takes their tasks)."""
    with ExitStack() as stack:
        yield live.paper.worker(stack, f"worker-{request.module.__name__.rsplit('.', 1)[-1]}")
