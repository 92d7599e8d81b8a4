from __future__ import annotations

import asyncio

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.errors import ConnectionClosed, DecodeError, MessageTooLarge, MuxError, ProtocolTimeout
from chain.mux import (HEADER_SIZE, MAX_PAYLOAD, Muxer, decode_header, decode_one, encode_segment,
                       split_message)


@given(st.integers(0, 0x7FFF), st.booleans(), st.binary(min_size=1, max_size=300),
       st.integers(0, 2**32 - 1))
def test_segment_header_round_trips(protocol, responder, payload, timestamp):
    segment = encode_segment(protocol, responder, payload, timestamp)
    header = decode_header(segment[:HEADER_SIZE])
    assert (header.protocol, header.responder, header.length, header.timestamp) == \
        (protocol, responder, len(payload), timestamp)
    assert segment[HEADER_SIZE:] == payload


def test_mode_bit_is_set_by_the_responder_only():
    assert encode_segment(2, False, b"\x80", 0)[4:6] == b"\x00\x02"
    assert encode_segment(2, True, b"\x80", 0)[4:6] == b"\x80\x02"


def test_payload_limits():
    encode_segment(3, False, bytes(MAX_PAYLOAD), 0)
    with pytest.raises(ValueError):
        encode_segment(3, False, bytes(MAX_PAYLOAD + 1), 0)
    with pytest.raises(ValueError):
        encode_segment(3, False, b"", 0)


def test_split_message_keeps_every_byte():
    payload = bytes(range(256)) * 200
    pieces = split_message(payload, 12288)
    assert b"".join(pieces) == payload and max(map(len, pieces)) == 12288


def test_decode_one_takes_whole_items_and_waits_for_the_rest():
    first, second = cbor2.dumps([0, 12345]), cbor2.dumps([2, b"x" * 1000])
    buffer = bytearray(first + second[:10])
    assert decode_one(buffer) == ([0, 12345], first)
    assert decode_one(buffer) is None  # the second is incomplete
    buffer += second[10:]
    assert decode_one(buffer) == ([2, b"x" * 1000], second)
    assert buffer == bytearray()


@pytest.mark.parametrize("garbage", [b"\xff\xfe\x00", b"\x1c"])
def test_decode_one_rejects_garbage(garbage):
    with pytest.raises(DecodeError):
        decode_one(bytearray(garbage) + b"\x00" * 8)


async def pair() -> tuple[Muxer, Muxer, asyncio.AbstractServer]:
    accepted: asyncio.Queue = asyncio.Queue()

    async def on_connect(reader, writer):
        await accepted.put((reader, writer))

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = Muxer(reader, writer, initiator=True)
    server_side = Muxer(*(await accepted.get()), initiator=False)
    return client, server_side, server


def test_messages_span_segments_and_segments_hold_several_messages():
    async def scenario():
        client, node, server = await pair()
        for mux in (client, node):
            mux.channel(2)
            mux.start()
        big = cbor2.dumps([4, b"b" * 100_000])  # spans 9 segments of 12288 bytes
        await client.channel(2).send(big)
        assert (await node.channel(2).recv(200_000, 5))[1] == big
        # Two messages in one segment.
        node.writer.write(encode_segment(2, True, cbor2.dumps([1]) + cbor2.dumps([0, 5])))
        await node.writer.drain()
        assert (await client.channel(2).recv(100, 5))[0] == [1]
        assert (await client.channel(2).recv(100, 5))[0] == [0, 5]
        await client.close()
        await node.close()
        server.close()

    asyncio.run(scenario())


def peer_error_scenario(check) -> None:
    """A client muxer reading protocol 2 from a node whose bytes `check` writes and judges."""
    async def scenario():
        client, node, server = await pair()
        client.channel(2)
        client.start()
        try:
            await check(client, node)
        finally:
            await client.close()
            await node.close()
            server.close()

    asyncio.run(scenario())


def test_wrong_mode_bit_is_a_mux_error():
    async def check(client, node):
        # The node writes as if it were the initiator.
        node.writer.write(encode_segment(2, False, b"\x80"))
        await node.writer.drain()
        with pytest.raises(MuxError, match="mode bit"):
            await client.channel(2).recv(100, 5)

    peer_error_scenario(check)


def test_segment_for_a_protocol_not_running_is_a_mux_error():
    async def check(client, node):
        node.writer.write(encode_segment(9, True, b"\x80"))
        await node.writer.drain()
        with pytest.raises(MuxError, match="protocol 9"):
            await client.channel(2).recv(100, 5)

    peer_error_scenario(check)


def test_silence_oversize_and_hang_up_surface_on_the_waiting_channel():
    async def check(client, node):
        with pytest.raises(ProtocolTimeout):
            await client.channel(2).recv(100, 0.2)
        node.writer.write(encode_segment(2, True, b"\x5a\x00\x01\x00\x00" + bytes(1000)))
        await node.writer.drain()
        with pytest.raises(MessageTooLarge):
            await client.channel(2).recv(500, 5)
        node.writer.close()
        with pytest.raises(ConnectionClosed):
            await client.channel(2).recv(10**6, 5)

    peer_error_scenario(check)
