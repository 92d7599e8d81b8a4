"""Mini-protocol state machines as data, checked by one engine (gouroboros protocol/state.go).

Each mini-protocol declares a table: state -> who has agency, which message types may
be sent from it and the state each leads to, how long the side waiting may wait, and
how many bytes a message in that state may take. `ProtocolPeer` checks every message
sent, and every message received the moment it arrives, against the table, so a peer
that speaks out of turn or sends a message its state does not allow is caught at once.

Pipelining: a state may let its agent send some requests again before the earlier ones
are answered (chain-sync's RequestNext). The engine then keeps the conversation in
protocol order, each request followed by its answer, as ouroboros-network's typed
protocols do: requests sent ahead wait their turn, and each answer is checked against
the state of the exchange it belongs to.
"""
from __future__ import annotations

import asyncio
import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import cbor2

from chain.errors import AgencyError, DecodeError, PeerError
from chain.mux import Channel

#: ouroboros-network byte limits: small for control messages, large for whole blocks.
SMALL_BYTE_LIMIT = 65535
LARGE_BYTE_LIMIT = 2_500_000


class Agency(enum.Enum):
    CLIENT = "client"
    SERVER = "server"
    NOBODY = "nobody"  # terminal state


def other(side: Agency) -> Agency:
    return Agency.SERVER if side is Agency.CLIENT else Agency.CLIENT


@dataclass(frozen=True)
class State:
    name: str
    agency: Agency
    transitions: Mapping[int, str] = field(default_factory=dict)  # message type -> next state
    timeout: float | None = None  # seconds the side without agency waits for a message
    byte_limit: int = SMALL_BYTE_LIMIT
    # Message types the agent may send while earlier ones are still unanswered, and the
    # state the exchange each opens ends in (where the agent goes on from).
    pipelined: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProtocolSpec:
    name: str
    states: Mapping[str, State]
    initial: str

    @property
    def pipeliner(self) -> Agency | None:
        """The side that may pipeline (only clients do in Ouroboros), if any."""
        return next((s.agency for s in self.states.values() if s.pipelined), None)


class Message:
    """Base of every mini-protocol message: a `TYPE` and a CBOR list form."""

    TYPE: int = -1
    raw: bytes | None = None  # the bytes it arrived as, when received

    def to_cbor(self) -> list[Any]:
        raise NotImplementedError

    def encode(self) -> bytes:
        return cbor2.dumps(self.to_cbor())


class StateMachine:
    """The conversation's state, in protocol order, for one side (`role`) of it.

    With pipelining, `state` is where the conversation is with every message so far in
    protocol order; requests the pipelining side sent ahead wait in `_ahead` until the
    exchange before theirs ends, and `_ends` holds, oldest first, the state each open
    pipelined exchange must end in. Each message is checked against the state it comes
    from in that order: a pipelined request against where its sender will be once the
    earlier ones are answered, an answer against the exchange it answers.
    """

    def __init__(self, spec: ProtocolSpec, role: Agency) -> None:
        self.spec = spec
        self.role = role
        self.state = spec.states[spec.initial]
        self._pipeliner = spec.pipeliner
        self._ends: deque[str] = deque()
        self._ahead: deque[int] = deque()

    @property
    def done(self) -> bool:
        return self.state.agency is Agency.NOBODY

    @property
    def unanswered(self) -> int:
        """Pipelined exchanges opened and not ended yet."""
        return len(self._ends)

    def sending(self, msg_type: int) -> None:
        self._take(msg_type, self.role, "sent")

    def receiving(self, msg_type: int) -> None:
        self._take(msg_type, other(self.role), "received")

    def expecting(self) -> State | None:
        """The state the peer's next message comes from, or None if it may not speak now."""
        peer = other(self.role)
        origin = self._origin(peer)
        return origin if origin.agency is peer else None

    def _origin(self, side: Agency) -> State:
        """The state `side`'s next message is sent from: for the pipelining side with
        requests unanswered, where it will be once they are."""
        if side is self._pipeliner and self._ends:
            return self.spec.states[self._ends[-1]]
        return self.state

    def _take(self, msg_type: int, side: Agency, verb: str) -> None:
        origin = self._origin(side)
        if origin.agency is not side:
            if side is self.role:
                raise AgencyError(f"{self.spec.name}: cannot send in state {origin.name}: "
                                  f"agency is {origin.agency.value}'s")
            raise AgencyError(f"{self.spec.name}: peer sent message type {msg_type} in state "
                              f"{origin.name}, where it may not speak")
        end = origin.pipelined.get(msg_type)
        if end is not None:
            self._ends.append(end)
            if len(self._ends) > 1:  # its exchange starts when the ones before it end
                self._ahead.append(msg_type)
                return
        elif side is self._pipeliner and self._ends:
            raise AgencyError(f"{self.spec.name}: message type {msg_type} may not be {verb} "
                              f"with {len(self._ends)} pipelined requests unanswered")
        self._apply(msg_type, verb)

    def _apply(self, msg_type: int, verb: str) -> None:
        next_name = self.state.transitions.get(msg_type)
        if next_name is None:
            raise AgencyError(f"{self.spec.name}: message type {msg_type} may not be {verb} "
                              f"in state {self.state.name}")
        self.state = self.spec.states[next_name]
        if self._ends and self.state.agency is self._pipeliner:
            self._end_exchange(verb)

    def _end_exchange(self, verb: str) -> None:
        expected = self._ends.popleft()
        if self.state.name != expected:
            raise AgencyError(f"{self.spec.name}: a pipelined exchange ended in state "
                              f"{self.state.name}, not {expected}")
        if self._ahead:
            self._apply(self._ahead.popleft(), verb)


class ProtocolPeer:
    """One side of a mini-protocol on a mux channel: messages checked against the table.

    Received messages are decoded and checked in the muxer's reader as they arrive, and
    queued for `recv`: a message is judged against the state the conversation is in when
    it arrives, whatever we send afterwards. A violation fails the whole connection (every
    waiter on it raises the error): a peer that breaks one protocol is not trusted with
    the others.
    """

    def __init__(self, channel: Channel, spec: ProtocolSpec, role: Agency,
                 decode: Callable[[Any], Message],
                 timeouts: Mapping[str, float | None] | None = None) -> None:
        self.channel = channel
        self.machine = StateMachine(spec, role)
        self._decode = decode
        self._timeouts = dict(timeouts or {})
        self._inbox: deque[Message] = deque()
        channel.listen(self._arrived)

    @property
    def state(self) -> str:
        return self.machine.state.name

    def _arrived(self) -> None:
        """Take every whole message off the channel and check it (called by the reader)."""
        if self.channel.mux.error is not None:
            return
        try:
            while self._take_one():
                pass
        except PeerError as error:
            self.channel.mux._fail(error)
        except Exception as error:  # a bug must not leave the connection half-alive
            self.channel.mux._fail(DecodeError(f"{self.machine.spec.name}: {error!r:.200}"))

    def _take_one(self) -> bool:
        expected = self.machine.expecting()
        taken = self.channel.take(expected.byte_limit if expected else SMALL_BYTE_LIMIT)
        if taken is None:
            if expected is None and self.channel.pending:
                raise AgencyError(f"{self.machine.spec.name}: peer sent {self.channel.pending} "
                                  f"bytes in state {self.state}, where it may not speak")
            return False
        message = self._decode(taken[0])
        message.raw = taken[1]
        self.machine.receiving(message.TYPE)  # out of turn or not allowed here: AgencyError
        self._inbox.append(message)
        return True

    async def send(self, message: Message) -> None:
        # The machine moves before the bytes leave: an answer can never arrive first.
        self.machine.sending(message.TYPE)
        await self.channel.send(message.encode())

    async def recv(self) -> Message:
        """The next message from the peer, in order, within its state's time limit."""
        expected = self.machine.expecting()
        if not self._inbox and expected is None and self.channel.mux.error is None:
            raise AgencyError(f"{self.machine.spec.name}: waiting for the peer in state "
                              f"{self.state}, where it may not speak")
        timeout = None if expected is None else self._timeouts.get(expected.name,
                                                                    expected.timeout)
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while not self._inbox:
            if self.channel.mux.error is not None:
                raise self.channel.mux.error
            await self.channel.wait(deadline, timeout)
        return self._inbox.popleft()
