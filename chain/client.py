"""A connection to a node: connect by address, handshake once, hand out the mini-protocol clients.

Node-to-node (TCP, any relay): chain-sync of headers, block-fetch, keep-alive.
Node-to-client (Unix socket, our own node): chain-sync of whole blocks, local tx-submission.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Mapping

from chain.address import NodeAddress
from chain.errors import ConnectionClosed, PeerError, WrongNetwork
from chain.miniprotocols import (BLOCKFETCH, CHAINSYNC_N2C, CHAINSYNC_N2N, HANDSHAKE, KEEPALIVE,
                                 LOCAL_TX_SUBMISSION)
from chain.miniprotocols.blockfetch.client import BlockFetchClient
from chain.miniprotocols.chainsync.client import ChainSyncClient
from chain.miniprotocols.handshake.client import handshake
from chain.miniprotocols.handshake.versions import version_label
from chain.miniprotocols.keepalive.client import KeepAliveClient
from chain.miniprotocols.localtxsubmission.client import LocalTxSubmissionClient
from chain.mux import Muxer

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_INTERVAL_S = 20.0


async def open_bearer(address: NodeAddress, timeout_s: float
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        if address.scheme == "unix":
            opening = asyncio.open_unix_connection(address.path)
        else:
            opening = asyncio.open_connection(address.host, address.port)
        async with asyncio.timeout(timeout_s):
            return await opening
    except TimeoutError:
        raise ConnectionClosed(f"could not connect to {address} within {timeout_s}s") from None
    except OSError as error:
        raise ConnectionClosed(f"could not connect to {address}: {error.strerror or error}") \
            from None


class NodeClient:
    def __init__(self, address: NodeAddress, mux: Muxer, version: int, version_data: Any,
                 timeouts: Mapping[str, float | None] | None) -> None:
        self.address = address
        self.mux = mux
        self.version = version
        self.version_data = version_data
        self.node_to_client = address.node_to_client
        n2c = self.node_to_client
        self.chainsync = ChainSyncClient(mux.channel(CHAINSYNC_N2C if n2c else CHAINSYNC_N2N),
                                         n2c, timeouts)
        self.blockfetch = None if n2c else BlockFetchClient(mux.channel(BLOCKFETCH), timeouts)
        self.keepalive = None if n2c else KeepAliveClient(mux.channel(KEEPALIVE))
        self.local_tx = LocalTxSubmissionClient(mux.channel(LOCAL_TX_SUBMISSION)) if n2c else None
        self._keepalive_task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, address: NodeAddress, magic: int, *,
                      connect_timeout_s: float = CONNECT_TIMEOUT_S,
                      timeouts: Mapping[str, float | None] | None = None,
                      keepalive_interval_s: float | None = KEEPALIVE_INTERVAL_S) -> "NodeClient":
        reader, writer = await open_bearer(address, connect_timeout_s)
        mux = Muxer(reader, writer, initiator=True)
        n2c = address.node_to_client
        # Every channel is registered before the first byte arrives: a segment for a
        # protocol we do not run is a peer error.
        for protocol in ((HANDSHAKE, CHAINSYNC_N2C, LOCAL_TX_SUBMISSION) if n2c
                         else (HANDSHAKE, CHAINSYNC_N2N, BLOCKFETCH, KEEPALIVE)):
            mux.channel(protocol)
        mux.start()
        try:
            version, data = await handshake(mux.channel(HANDSHAKE), magic, n2c,
                                            timeout=(timeouts or {}).get("Confirm", 10.0) or 10.0)
        except WrongNetwork as error:
            await mux.close()
            raise error.at(str(address)) from None
        except BaseException:
            await mux.close()
            raise
        log.info("connected to %s: %s", address, version_label(version))
        client = cls(address, mux, version, data, timeouts)
        if client.keepalive is not None and keepalive_interval_s:
            client._keepalive_task = asyncio.create_task(client._keep_alive(keepalive_interval_s))
        return client

    async def _keep_alive(self, interval_s: float) -> None:
        assert self.keepalive is not None
        try:
            await self.keepalive.run(interval_s)
        except PeerError as error:
            # Wake everything waiting on this connection: it is no longer trustworthy.
            self.mux._fail(error)

    async def close(self) -> None:
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
            try:
                await self._keepalive_task
            except (asyncio.CancelledError, Exception):
                pass
        await self.mux.close()

    async def __aenter__(self) -> "NodeClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
