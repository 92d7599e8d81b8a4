"""Surf's REST client over real HTTP against the loopback stub (synthetic demo data): the
`{"request": …}` wrapper, credential-object addresses, grouped positions, repay by the
current outRef, typed errors, timeouts, malformed answers, and submit sent once."""
from __future__ import annotations

from decimal import Decimal
from typing import Iterator

import pytest

from chain.ledger import decode_transaction
from protocols.errors import MalformedResponse, VenueRefused, VenueUnavailable
from protocols.http import HttpPolicy
from protocols.venues.surf.api import SurfApi, parse_positions
from protocols.venues.surf.datums import OutRef
from protocols.venues.surf.orders import orders_in
from stubs.server import Fault, Reply, Request, StubServer
from stubs.surf import FLAT_BODY_ERROR, SurfStub, load_demo

FAST = HttpPolicy(timeout_s=0.3, attempts=3, backoff_s=0.01, min_interval_s=0)


@pytest.fixture
def stub() -> SurfStub:
    return load_demo(mainnet=True)


@pytest.fixture
def server(stub: SurfStub) -> Iterator[StubServer]:
    with StubServer(stub) as running:
        yield running


@pytest.fixture
def api(server: StubServer) -> SurfApi:
    return SurfApi(server.url + "/api", mainnet=True, policy=FAST)


def demo(stub: SurfStub) -> tuple[str, str, str]:
    address = next(iter(stub.wallets))
    pool_a, pool_b = list(stub.pools)
    return address, pool_a, pool_b


def test_reads_pool_infos_and_both_address_forms(api: SurfApi, stub: SurfStub) -> None:
    infos = api.pool_infos()
    assert set(infos) == set(stub.pools)
    assert infos[demo(stub)[1]]["u"] == 6807
    assert isinstance(infos[demo(stub)[1]]["reserveFactor"], Decimal)  # never a float
    addresses = {entry.pool_key: entry for entry in api.pool_addresses()}
    for wire_id, pool in stub.pools.items():
        entry = addresses[wire_id]
        assert entry.pool.payment_hash == pool.pool_script and entry.pool.payment_is_script
        assert entry.vault is not None
        assert entry.vault.payment_hash == pool.info.vault_script_hash
        assert entry.pool.bech32.startswith("addr1w")
    kinds = {p.addresses_as for p in stub.pools.values()}
    assert kinds == {"bech32", "credentials"}  # the stub serves one pool in each form
    assert api.ada_price() == Decimal("0.45")


def test_positions_are_grouped_by_pool_with_the_current_out_ref(api: SurfApi,
                                                                 stub: SurfStub) -> None:
    address, pool_a, _ = demo(stub)
    [position] = api.positions(address)
    item = stub.wallets[address].positions[0]
    assert position.pool_id == pool_a
    assert position.borrow_id == OutRef.parse(item["borrow_id"])
    assert position.out_ref == OutRef.parse(item["out_ref"]) != position.borrow_id
    assert (position.principal, position.collateral) == (1_000_000_000, 5_000_000_000)
    assert api.positions("addr1_unknown") == []
    [order] = api.orders(address)
    assert order.out_ref == OutRef.parse(stub.wallets[address].orders[0]["out_ref"])


def test_positions_accept_snake_case_out_ref_and_refuse_missing_fields() -> None:
    ref = {"txHash": "ab" * 32, "outputIndex": 1}
    body = {"positions": [{"poolId": "p", "positions": [
        {"principal": "12", "collateral": 3, "borrowId": ref, "out_ref": ref,
         "principalAsset": {"policyId": "", "assetName": ""},
         "collateralAsset": {"policyId": "cd" * 28, "assetName": "41"}}]}]}
    [position] = parse_positions(body)
    assert position.pool_id == "p" and position.principal == 12
    assert position.out_ref == OutRef(bytes.fromhex("ab" * 32), 1)
    del body["positions"][0]["positions"][0]["borrowId"]
    with pytest.raises(MalformedResponse, match="borrowId"):
        parse_positions(body)
    with pytest.raises(MalformedResponse, match="expected list"):
        parse_positions({"positions": {"not": "a list"}})


def test_builders_send_the_wrapper_and_canonical_false(api: SurfApi, server: StubServer,
                                                       stub: SurfStub) -> None:
    address, pool_a, _ = demo(stub)
    cbor = api.deposit_liquidity(pool_a, address, 100_000_000)
    [sent] = server.requests_to("/api/depositLiquidity")
    assert sent.body == {"request": {"poolId": pool_a, "address": address,
                                     "amount": 100_000_000, "canonical": False}}
    [order] = orders_in(decode_transaction(cbor))
    assert order.datum.o_amount == 100_000_000  # type: ignore[union-attr]
    api.withdraw_liquidity(pool_a, address, 185_924_576)
    [sent] = server.requests_to("/api/withdrawLiquidity")
    assert sent.body["request"]["amount"] == 185_924_576  # cTokens, as asked


def test_a_flat_body_is_refused_with_the_servers_words(server: StubServer) -> None:
    from protocols.http import JsonHttpClient
    from protocols.venues.surf.api import classify

    client = JsonHttpClient("surf", server.url + "/api", FAST, classify=classify)
    with pytest.raises(VenueRefused, match="reading 'poolId'"):
        client.post("borrow", {"poolId": "x", "address": "y", "amount": 1}, safe=True)
    assert len(server.requests_to("/api/borrow")) == 1  # a refusal is not retried
    assert FLAT_BODY_ERROR


def test_repay_uses_the_positions_current_out_ref(api: SurfApi, server: StubServer,
                                                  stub: SurfStub) -> None:
    address, pool_a, _ = demo(stub)
    item = stub.wallets[address].positions[0]
    borrow_id = OutRef.parse(item["borrow_id"])
    cbor, position = api.repay(pool_a, address, borrow_id)
    [sent] = server.requests_to("/api/repay")
    assert sent.body["request"]["outRef"] == {"txHash": position.out_ref.tx_id.hex(),
                                              "outputIndex": position.out_ref.index}
    assert position.out_ref != borrow_id
    assert len(server.requests_to("/api/getAllPositions")) == 1  # re-read first
    with pytest.raises(VenueRefused, match="no open position"):
        api.repay(pool_a, address, OutRef(b"\x01" * 32, 0))


def test_the_blockfrost_error_is_transient_and_retried(api: SurfApi, server: StubServer,
                                                       stub: SurfStub) -> None:
    address, pool_a, _ = demo(stub)
    blockfrost = {"error": "Could not fetch UTxOs from Blockfrost. Try again"}
    server.fail_next("/api/borrow", Fault(status=500, body=blockfrost))
    cbor = api.borrow(pool_a, address, 100_000_000, 1_000_000_000)
    assert decode_transaction(cbor)
    assert len(server.requests_to("/api/borrow")) == 2
    server.fail_next("/api/borrow", Fault(status=200, body=blockfrost), times=3)
    with pytest.raises(VenueUnavailable, match="Blockfrost"):
        api.borrow(pool_a, address, 100_000_000, 1_000_000_000)
    assert len(server.requests_to("/api/borrow")) == 5


def test_other_builder_errors_are_refusals_not_retried(api: SurfApi, server: StubServer,
                                                       stub: SurfStub) -> None:
    address, pool_a, _ = demo(stub)
    server.fail_next("/api/depositLiquidity",
                     Fault(status=500, body={"error": "Insufficient balance"}))
    with pytest.raises(VenueRefused, match="Insufficient balance"):
        api.deposit_liquidity(pool_a, address, 1)
    assert len(server.requests_to("/api/depositLiquidity")) == 1
    with pytest.raises(VenueRefused, match="not found"):
        api.deposit_liquidity("unknown:0", address, 1)  # the stub's own 400


def test_timeouts_and_malformed_answers(api: SurfApi, server: StubServer) -> None:
    server.fail_next("/api/getAllPoolInfos", Fault(delay_s=0.6), times=3)
    with pytest.raises(VenueUnavailable, match="no answer within 0.3s"):
        api.pool_infos()
    assert len(server.requests_to("/api/getAllPoolInfos")) == 3  # a read is retried
    server.fail_next("/api/getAllPoolInfos", Fault(malformed=True))
    with pytest.raises(MalformedResponse, match="not JSON"):
        api.pool_infos()
    server.fail_next("/api/getAllPoolInfos", Fault(status=200, body={"pools": []}))
    with pytest.raises(MalformedResponse, match="poolInfos"):
        api.pool_infos()
    server.fail_next("/api/getAllPoolInfos", Fault(status=503, body={"error": "down"}), times=1)
    assert api.pool_infos()  # a 503 on a read: retried, then answered
    server.fail_next("/api/depositLiquidity", Fault(status=200, body={"cbor": "abcd"}))
    with pytest.raises(MalformedResponse, match="not a transaction"):
        api.deposit_liquidity("x:0", "addr", 1)


def test_submit_is_sent_once_and_a_second_submission_is_already_submitted(
        api: SurfApi, server: StubServer, stub: SurfStub) -> None:
    address, pool_a, _ = demo(stub)
    cbor = api.deposit_liquidity(pool_a, address, 100_000_000)
    tx_id = decode_transaction(cbor).id.hex()
    server.fail_next("/api/wallet/submit", Fault(status=503, body={"error": "busy"}))
    with pytest.raises(VenueUnavailable):
        api.submit(address, cbor)
    assert len(server.requests_to("/api/wallet/submit")) == 1  # never retried
    server.fail_next("/api/wallet/submit", Fault(delay_s=0.6, status=504))
    with pytest.raises(VenueUnavailable):
        api.submit(address, cbor)
    assert len(server.requests_to("/api/wallet/submit")) == 2
    first = api.submit(address, cbor)
    assert (first.tx_id, first.already) == (tx_id, False)
    [*_, sent] = server.requests_to("/api/wallet/submit")
    assert sent.body == {"address": address, "tx": cbor.hex()}  # not wrapped
    again = api.submit(address, cbor)
    assert (again.tx_id, again.already) == (tx_id, True)


def test_submit_refuses_an_answer_naming_another_tx(api: SurfApi, server: StubServer,
                                                    stub: SurfStub) -> None:
    address, pool_a, _ = demo(stub)
    cbor = api.deposit_liquidity(pool_a, address, 100_000_000)
    server.fail_next("/api/wallet/submit", Fault(status=200, body={"txHash": "00" * 32}))
    with pytest.raises(MalformedResponse, match="ours is"):
        api.submit(address, cbor)


def test_credential_objects_of_every_kind() -> None:
    """Key and script stake parts; a wrong network or a bad hash is malformed."""
    def handler(request: Request) -> Reply:
        return Reply(200, {"poolAddresses": {"p:0": {
            "poolAddress": {"networkId": 1,
                            "paymentCredential": {"_tag": "ScriptHash", "hash": "aa" * 28},
                            "stakingCredential": {"_tag": "KeyHash", "hash": "bb" * 28}},
            "vaultUTxOsAddress": {"networkId": 1,
                                  "paymentCredential": {"_tag": "ScriptHash", "hash": "cc" * 28},
                                  "stakingCredential": {"_tag": "ScriptHash",
                                                        "hash": "dd" * 28}}}}})

    with StubServer(handler) as server:
        [entry] = SurfApi(server.url, policy=FAST).pool_addresses()
        assert entry.pool.stake == ("key", bytes.fromhex("bb" * 28))
        assert entry.vault is not None and entry.vault.stake == ("script", bytes.fromhex("dd" * 28))
        assert entry.pool.bech32.startswith("addr1")
        with pytest.raises(MalformedResponse, match="another network"):
            SurfApi(server.url, policy=FAST, mainnet=False).pool_addresses()
    for bad in ({"_tag": "ScriptHash", "hash": "aa"}, {"_tag": "Pointer", "hash": "aa" * 28}):
        def broken(request: Request, bad: dict = bad) -> Reply:  # type: ignore[type-arg]
            return Reply(200, {"poolAddresses": {"p:0": {"poolAddress": {
                "networkId": 1, "paymentCredential": bad}}}})

        with StubServer(broken) as server:
            with pytest.raises(MalformedResponse):
                SurfApi(server.url, policy=FAST).pool_addresses()
