"""Where the stack listens, checked before any process starts.

BIND_HOST must be an address of this machine, and PORT (on BIND_HOST) and FLOWER_PORT
(Flower listens on loopback) must be free: a problem is one line naming the variable,
rather than a traceback from gunicorn or Flower after everything else has started. A
port the operator did not set moves to the next free one, so a second stack (with its
own DATA_DIR) runs beside the first without any setting.
"""
from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from core.errors import ConfigConflict
from core.settings import Settings
from stack.processes import LOOPBACK

#: How many ports past a taken default to try.
SEARCH = 100


@dataclass(frozen=True)
class Listen:
    port: int
    flower_port: int


def bind_problem(host: str, port: int) -> str | None:
    """Why host:port cannot be listened on now, or None when it can."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as error:
        return f"cannot be resolved ({error.strerror})"
    with socket.socket(family, kind, proto) as sock:
        # As gunicorn and Flower bind: a closed connection in TIME_WAIT is no obstacle.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return "is in use"
            if error.errno == errno.EADDRNOTAVAIL:
                return "is not an address of this machine"
            if error.errno == errno.EACCES:
                return "needs privileges (a port below 1024)"
            return f"cannot be listened on ({error.strerror})"
    return None


def check_bind_host(host: str) -> None:
    problem = bind_problem(host, 0)
    if problem:
        raise ConfigConflict("BIND_HOST", f"{host} {problem} (use one of this machine, "
                                          "127.0.0.1, or 0.0.0.0 for all)")


def choose_listen(settings: Settings) -> Listen:
    """The ports the web process and Flower will listen on; ConfigConflict if they cannot."""
    check_bind_host(settings.bind_host)
    port = _choose("PORT", settings.bind_host, settings.port, "PORT" in settings.explicit,
                   taken=set())
    flower_port = _choose("FLOWER_PORT", LOOPBACK, settings.flower_port,
                          "FLOWER_PORT" in settings.explicit, taken={port})
    return Listen(port, flower_port)


def _choose(variable: str, host: str, wanted: int, explicit: bool, taken: set[int]) -> int:
    problem = "is also PORT" if wanted in taken else bind_problem(host, wanted)
    if problem is None:
        return wanted
    if explicit:
        raise ConfigConflict(variable, f"{host}:{wanted} {problem} (set {variable} to another "
                                       "port, or stop what listens there)")
    for candidate in range(wanted + 1, min(wanted + SEARCH, 65535) + 1):
        if candidate not in taken and bind_problem(host, candidate) is None:
            return candidate
    raise ConfigConflict(variable, f"{host}:{wanted} {problem} and so are the next {SEARCH} "
                                   f"ports (set {variable} to a free port)")
