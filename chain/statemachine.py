"""Mini-protocol state machines as data, checked by one engine (gouroboros protocol/state.go).

Each mini-protocol declares a table: state -> who has agency, which message types may
be sent from it and the state each leads to, how long the side waiting may wait, and
how many bytes a message in that state may take. `ProtocolPeer` checks every message
sent and received against the table, so a peer that speaks out of turn or sends a
message its state does not allow is caught at once.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import cbor2

from chain.errors import AgencyError
from chain.mux import Channel

#: ouroboros-network byte limits: small for control messages, large for whole blocks.
SMALL_BYTE_LIMIT = 65535
LARGE_BYTE_LIMIT = 2_500_000


class Agency(enum.Enum):
    CLIENT = "client"
    SERVER = "server"
    NOBODY = "nobody"  # terminal state


@dataclass(frozen=True)
class State:
    name: str
    agency: Agency
    transitions: Mapping[int, str] = field(default_factory=dict)  # message type -> next state
    timeout: float | None = None  # seconds the side without agency waits for a message
    byte_limit: int = SMALL_BYTE_LIMIT


@dataclass(frozen=True)
class ProtocolSpec:
    name: str
    states: Mapping[str, State]
    initial: str


class Message:
    """Base of every mini-protocol message: a `TYPE` and a CBOR list form."""

    TYPE: int = -1
    raw: bytes | None = None  # the bytes it arrived as, when received

    def to_cbor(self) -> list[Any]:
        raise NotImplementedError

    def encode(self) -> bytes:
        return cbor2.dumps(self.to_cbor())


class StateMachine:
    def __init__(self, spec: ProtocolSpec, role: Agency) -> None:
        self.spec = spec
        self.role = role
        self.state = spec.states[spec.initial]

    @property
    def done(self) -> bool:
        return self.state.agency is Agency.NOBODY

    @property
    def ours(self) -> bool:
        return self.state.agency is self.role

    def _advance(self, msg_type: int, direction: str) -> None:
        next_name = self.state.transitions.get(msg_type)
        if next_name is None:
            raise AgencyError(f"{self.spec.name}: message type {msg_type} may not be {direction} "
                              f"in state {self.state.name}")
        self.state = self.spec.states[next_name]

    def sending(self, msg_type: int) -> None:
        if not self.ours:
            raise AgencyError(f"{self.spec.name}: cannot send in state {self.state.name}: "
                              f"agency is {self.state.agency.value}'s")
        self._advance(msg_type, "sent")

    def receiving(self, msg_type: int) -> None:
        if self.ours or self.done:
            raise AgencyError(f"{self.spec.name}: peer sent message type {msg_type} in state "
                              f"{self.state.name}, where it may not speak")
        self._advance(msg_type, "received")


class ProtocolPeer:
    """One side of a mini-protocol on a mux channel: messages checked against the table."""

    def __init__(self, channel: Channel, spec: ProtocolSpec, role: Agency,
                 decode: Callable[[Any], Message],
                 timeouts: Mapping[str, float | None] | None = None) -> None:
        self.channel = channel
        self.machine = StateMachine(spec, role)
        self._decode = decode
        self._timeouts = dict(timeouts or {})

    @property
    def state(self) -> str:
        return self.machine.state.name

    async def send(self, message: Message) -> None:
        if self.channel.pending:
            # Bytes from the peer while the agency was ours: it spoke out of turn.
            raise AgencyError(f"{self.machine.spec.name}: peer sent {self.channel.pending} bytes "
                              f"in state {self.state}, where it may not speak")
        self.machine.sending(message.TYPE)
        await self.channel.send(message.encode())

    async def recv(self) -> Message:
        state = self.machine.state
        if self.machine.ours or self.machine.done:
            raise AgencyError(f"{self.machine.spec.name}: waiting for the peer in state "
                              f"{state.name}, where it may not speak")
        timeout = self._timeouts.get(state.name, state.timeout)
        obj, raw = await self.channel.recv(state.byte_limit, timeout)
        message = self._decode(obj)
        message.raw = raw
        self.machine.receiving(message.TYPE)
        return message
