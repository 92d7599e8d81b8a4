"""Managed custody: a position wallet per user, derived (CIP-1852) from the master key in
MASTER_KEY_FILE, and the signatures the guards need while the trader is away.

The master key is a BIP-39 mnemonic (12 to 24 words) in a file readable by its owner
only. It is read here and nowhere else: it never reaches MongoDB, a log line, a response
or an error message (every error below names the file, never its content), and nothing
outside this module holds a private key. A user's wallet is account `n` of the master
key: payment key m/1852'/1815'/n'/0/0, stake key m/1852'/1815'/n'/2/0, its address the
base address of the two. The mapping user → account is the store's; the key never is.

Signing adds what the transaction needs of the wallet: the payment key's witness where
it spends the wallet's inputs or names it as a required signer, the stake key's where
it names that (DexHunter's builds do both).
"""
from __future__ import annotations

import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import cbor2

from core.errors import AppError
from execution.witnesses import body_hash

PURPOSE, COIN = 1852, 1815
HARDENED = 0x8000_0000
MAX_ACCOUNT = HARDENED - 1


class CustodyError(AppError):
    """The master key cannot be used; the message never contains key material."""


@dataclass(frozen=True)
class PositionWallet:
    account: int
    address: str  # bech32 base address (payment key + stake key)
    payment_key_hash: bytes
    stake_key_hash: bytes


class Custody:
    """The managed wallets of one master key file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._root = _load_root(path)

    def __repr__(self) -> str:  # never the key
        return f"Custody({self._path.name})"

    def wallet(self, account: int, network: str) -> PositionWallet:
        payment, stake = self._keys(account)
        from pycardano import Address, Network

        net = Network.MAINNET if network == "mainnet" else Network.TESTNET
        pay_vk, stake_vk = _verification(payment), _verification(stake)
        address = Address(pay_vk.hash(), stake_vk.hash(), net)
        return PositionWallet(account, str(address), bytes(pay_vk.hash()),
                              bytes(stake_vk.hash()))

    def sign(self, account: int, tx_cbor: bytes, required: Iterable[bytes]) -> bytes:
        """A witness set (CBOR, as a wallet's `signTx` answers) with this account's
        witnesses for the key hashes of `required` it holds; the others are not ours."""
        payment, stake = self._keys(account)
        digest = body_hash(tx_cbor)
        wanted = set(required)
        witnesses: list[list[bytes]] = []
        for key in (payment, stake):
            vk = _verification(key)
            if bytes(vk.hash()) in wanted:
                witnesses.append([bytes(vk.payload), key.sign(digest)])
        if not witnesses:
            raise CustodyError(f"account {account}'s keys are not among the transaction's "
                               f"signers")
        return cbor2.dumps({0: witnesses})

    def _keys(self, account: int) -> tuple[Any, Any]:
        if isinstance(account, bool) or not isinstance(account, int) \
                or not 0 <= account <= MAX_ACCOUNT:
            raise CustodyError(f"an account is an integer in [0, {MAX_ACCOUNT}], got "
                               f"{account!r}")
        return _derive(self._root, account)


def _load_root(path: Path) -> Any:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CustodyError(f"MASTER_KEY_FILE {path}: cannot be read "
                           f"({type(error).__name__})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CustodyError(f"MASTER_KEY_FILE {path}: readable by others than its owner "
                           f"(chmod 600 it)")
    words = " ".join(text.split())
    from pycardano import HDWallet

    try:
        valid = HDWallet.is_mnemonic(words)
    except Exception:  # the library raises several types on junk
        valid = False
    if not valid or len(words.split()) not in (12, 15, 18, 21, 24):
        raise CustodyError(f"MASTER_KEY_FILE {path}: not a BIP-39 mnemonic of 12 to 24 "
                           f"words")
    return HDWallet.from_mnemonic(words)


@lru_cache(maxsize=256)
def _derive(root: Any, account: int) -> tuple[Any, Any]:
    from pycardano import ExtendedSigningKey

    base = f"m/{PURPOSE}'/{COIN}'/{account}'"
    payment = root.derive_from_path(f"{base}/0/0")
    stake = root.derive_from_path(f"{base}/2/0")
    return (ExtendedSigningKey.from_hdwallet(payment),
            ExtendedSigningKey.from_hdwallet(stake))


def _verification(key: Any) -> Any:
    from pycardano import PaymentVerificationKey

    return PaymentVerificationKey.from_primitive(key.to_verification_key().payload[:32])
