"""store/accounts.py on the MongoDB server: a user's managed account index is allocated
once, for good, even when many workers ask at once; two users never share one."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from store import mongo as store_mongo
from store.accounts import AccountError, account_of

pytestmark = pytest.mark.integration


def test_one_account_per_user_even_under_concurrent_first_asks(db, mongo_url) -> None:  # type: ignore[no-untyped-def]
    assert account_of(db, "alice") == 0
    assert account_of(db, "bob") == 1
    assert account_of(db, "alice") == 0  # for good

    def ask(user: str) -> int:
        client = store_mongo.connect(mongo_url)  # a worker of its own
        try:
            return account_of(client[db.name], user)
        finally:
            client.close()

    users = [f"user-{i % 5}" for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(ask, users))
    by_user: dict[str, set[int]] = {}
    for user, index in zip(users, got):
        by_user.setdefault(user, set()).add(index)
    assert all(len(indexes) == 1 for indexes in by_user.values()), by_user
    firsts = [next(iter(v)) for v in by_user.values()]
    assert len(set(firsts)) == 5 and not {0, 1} & set(firsts)
    assert db["accounts"].count_documents({}) == 7


@pytest.mark.parametrize("bad", ["", "a b", "x" * 129, None, "-lead"])
def test_a_user_id_that_cannot_name_a_wallet_is_refused(db, bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AccountError):
        account_of(db, bad)
    assert db["accounts"].count_documents({}) == 0
