"""The Ouroboros multiplexer: many mini-protocols over one TCP or Unix-socket bearer.

Wire unit (ouroboros-network `network-mux` Codec.hs; gouroboros muxer/segment.go):

    0..3  u32  transmission time, low 32 bits of a microsecond clock (informational)
    4..5  u16  bit 15: mode (0 from the initiator, 1 from the responder); bits 0..14 protocol
    6..7  u16  payload length, 1..65535
    8..   payload

A CBOR message may span segments and a segment may hold several messages: each
channel keeps a byte buffer and decodes whole items from it.
"""
from __future__ import annotations

import asyncio
import io
import logging
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable

import cbor2

from chain.errors import (ConnectionClosed, DecodeError, MessageTooLarge, MuxError, PeerError,
                          ProtocolTimeout)

log = logging.getLogger(__name__)

HEADER = struct.Struct(">IHH")
HEADER_SIZE = HEADER.size  # 8
RESPONDER_FLAG = 0x8000
MAX_PAYLOAD = 65535
#: What we send per segment: the Haskell node's socket bearer uses 12,288-byte SDUs.
SEND_SDU = 12288


@dataclass(frozen=True)
class SegmentHeader:
    timestamp: int
    protocol: int
    responder: bool
    length: int


def encode_segment(protocol: int, responder: bool, payload: bytes,
                   timestamp: int | None = None) -> bytes:
    if not 0 <= protocol < RESPONDER_FLAG:
        raise ValueError(f"protocol number out of range: {protocol}")
    if not 0 < len(payload) <= MAX_PAYLOAD:
        raise ValueError(f"segment payload must be 1..{MAX_PAYLOAD} bytes, got {len(payload)}")
    if timestamp is None:
        timestamp = time.monotonic_ns() // 1000
    mode = RESPONDER_FLAG if responder else 0
    return HEADER.pack(timestamp & 0xFFFFFFFF, protocol | mode, len(payload)) + payload


def decode_header(data: bytes) -> SegmentHeader:
    timestamp, word, length = HEADER.unpack(data)
    return SegmentHeader(timestamp, word & 0x7FFF, bool(word & RESPONDER_FLAG), length)


def split_message(payload: bytes, sdu: int = SEND_SDU) -> list[bytes]:
    return [payload[i:i + sdu] for i in range(0, len(payload), sdu)]


def decode_one(buffer: bytearray) -> tuple[Any, bytes] | None:
    """Take one whole CBOR item off the front of `buffer`: (object, its bytes), or None
    when the item is not complete yet. Malformed bytes raise DecodeError."""
    if not buffer:
        return None
    stream = io.BytesIO(buffer)
    try:
        obj = cbor2.CBORDecoder(stream).decode()
    except cbor2.CBORDecodeEOF:
        return None
    except (cbor2.CBORDecodeError, ValueError, RecursionError, OverflowError) as error:
        raise DecodeError(f"malformed CBOR: {error}") from None
    # A stray "break" byte is not an item (break_marker is missing from cbor2's stubs).
    if obj is cbor2.break_marker:  # type: ignore[attr-defined]
        raise DecodeError("malformed CBOR: a break code outside an indefinite-length item")
    end = stream.tell()
    raw = bytes(buffer[:end])
    del buffer[:end]
    return obj, raw


class Channel:
    """One mini-protocol's two byte streams on a muxer.

    A protocol peer `listen`s to it: the muxer's reader then calls it as bytes arrive, so
    messages are checked the moment they come in. `recv` reads whole items off the bytes
    directly, for channels nobody listens to (tests of the mux itself).
    """

    def __init__(self, mux: "Muxer", protocol: int) -> None:
        self.mux = mux
        self.protocol = protocol
        self._buffer = bytearray()
        self._arrived = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._listener: Callable[[], None] | None = None

    def listen(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever bytes arrive, and now for any that came before."""
        self._listener = listener
        if self._buffer:
            listener()

    def _feed(self, payload: bytes) -> None:
        self._buffer += payload
        if self._listener is not None:
            self._listener()
        self._arrived.set()

    def _wake(self) -> None:
        self._arrived.set()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def take(self, limit: int) -> tuple[Any, bytes] | None:
        """The next whole message off the bytes, if there is one, within `limit` bytes."""
        taken = decode_one(self._buffer)
        if taken is not None:
            if len(taken[1]) > limit:
                raise MessageTooLarge(f"protocol {self.protocol}: message of "
                                      f"{len(taken[1])} bytes over the {limit}-byte limit")
            return taken
        if len(self._buffer) > limit:
            raise MessageTooLarge(f"protocol {self.protocol}: over {limit} bytes pending "
                                  "without a whole message")
        return None

    async def wait(self, deadline: float | None, timeout: float | None) -> None:
        """Until more bytes arrive or the connection fails; ProtocolTimeout at `deadline`."""
        self._arrived.clear()
        remaining = None if deadline is None else deadline - asyncio.get_running_loop().time()
        if remaining is not None and remaining <= 0:
            raise ProtocolTimeout(f"protocol {self.protocol}: no answer within {timeout}s")
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that lands as the wait completes, and a stopping follower would go on.
            async with asyncio.timeout(remaining):
                await self._arrived.wait()
        except TimeoutError:
            raise ProtocolTimeout(f"protocol {self.protocol}: no answer within "
                                  f"{timeout}s") from None

    async def send(self, payload: bytes) -> None:
        async with self._send_lock:
            for piece in split_message(payload):
                await self.mux._write(encode_segment(self.protocol, not self.mux.initiator, piece))

    async def recv(self, limit: int, timeout: float | None) -> tuple[Any, bytes]:
        """The next whole message, within `limit` bytes and `timeout` seconds."""
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while True:
            taken = self.take(limit)
            if taken is not None:
                return taken
            if self.mux.error is not None:
                raise self.mux.error
            await self.wait(deadline, timeout)


class Muxer:
    """Reads segments off the bearer and hands each payload to its protocol's channel."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 initiator: bool) -> None:
        self.reader = reader
        self.writer = writer
        self.initiator = initiator
        self.channels: dict[int, Channel] = {}
        self.error: Exception | None = None
        self._task: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()

    def channel(self, protocol: int) -> Channel:
        if protocol not in self.channels:
            self.channels[protocol] = Channel(self, protocol)
        return self.channels[protocol]

    def start(self) -> None:
        self._task = asyncio.create_task(self._read_loop(), name="mux-reader")

    async def _write(self, segment: bytes) -> None:
        if self.error is not None:
            raise self.error
        async with self._write_lock:
            try:
                self.writer.write(segment)
                await self.writer.drain()
            except (ConnectionError, OSError) as error:
                self._fail(ConnectionClosed(f"connection lost while sending: {error}"))
                raise self.error from None  # type: ignore[misc]

    async def _read_loop(self) -> None:
        try:
            while True:
                header = decode_header(await self.reader.readexactly(HEADER_SIZE))
                if header.length == 0:
                    raise MuxError("empty segment (a payload of 0 bytes)")
                if header.responder == (not self.initiator):
                    raise MuxError(f"segment for protocol {header.protocol} has the wrong mode "
                                   "bit (the peer speaks as if it opened the connection)")
                payload = await self.reader.readexactly(header.length)
                channel = self.channels.get(header.protocol)
                if channel is None:
                    raise MuxError(f"segment for protocol {header.protocol}, which is not running")
                channel._feed(payload)
                if self.error is not None:
                    return  # a protocol peer found a violation in what arrived: stop here
        except asyncio.IncompleteReadError:
            self._fail(ConnectionClosed("the peer closed the connection"))
        except (ConnectionError, OSError) as error:
            self._fail(ConnectionClosed(f"connection lost: {error}"))
        except PeerError as error:  # MuxError, or a protocol violation found on arrival
            self._fail(error)
        except asyncio.CancelledError:
            self._fail(ConnectionClosed("connection closed"))
            raise

    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        for channel in self.channels.values():
            channel._wake()

    async def close(self) -> None:
        self._fail(ConnectionClosed("connection closed"))
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
