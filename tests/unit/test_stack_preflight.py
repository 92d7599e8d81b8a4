"""What `dhl run` checks before it starts anything: the DATA_DIR lock, where it listens,
its Redis namespace. No services needed."""
from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path
from typing import Iterator

import pytest

from core.errors import ConfigConflict, ConfigError
from core.settings import parse_name, settings_from_mapping
from stack import lock
from stack.namespace import namespace_for
from stack.ports import Listen, bind_problem, choose_listen
from stack.processes import free_port


@pytest.fixture
def listening() -> Iterator[int]:
    """A loopback port something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_port_that_was_set_is_refused_naming_it(listening):
    settings = settings_from_mapping({"PORT": str(listening)})
    with pytest.raises(ConfigConflict) as refused:
        choose_listen(settings)
    assert str(refused.value) == (f"PORT: 127.0.0.1:{listening} is in use (set PORT to another "
                                  "port, or stop what listens there)")


def test_a_taken_port_that_was_not_set_moves_to_the_next_free_one(listening):
    # As if `listening` were the default: the operator did not choose it.
    settings = dataclasses.replace(settings_from_mapping({}), port=listening,
                                   flower_port=listening + 1)
    chosen = choose_listen(settings)
    assert chosen.port > listening and chosen.flower_port != chosen.port
    assert bind_problem("127.0.0.1", chosen.port) is None


def test_flower_cannot_have_the_web_port():
    # Refused with the settings, before any port is looked at.
    port = str(free_port())
    with pytest.raises(ConfigError, match=rf"^FLOWER_PORT: expected a port other than PORT "
                                          rf"\({port}\), got '{port}'"):
        settings_from_mapping({"PORT": port, "FLOWER_PORT": port})


def test_free_ports_are_kept():
    ports = free_port(), free_port()
    settings = settings_from_mapping({"PORT": str(ports[0]), "FLOWER_PORT": str(ports[1])})
    assert choose_listen(settings) == Listen(*ports)


@pytest.mark.parametrize("host,problem", [("192.0.2.1", "is not an address of this machine"),
                                          ("no-such-host.invalid", "cannot be resolved")])
def test_a_bind_host_that_cannot_be_listened_on_is_named(host, problem):
    with pytest.raises(ConfigConflict, match=f"^BIND_HOST: {host} {problem}"):
        choose_listen(settings_from_mapping({"BIND_HOST": host}))


def test_one_lock_per_data_dir(tmp_path: Path):
    first = lock.acquire(tmp_path)
    first.describe(web="http://127.0.0.1:8123/")
    assert lock.is_held(tmp_path)
    with pytest.raises(ConfigConflict) as refused:
        lock.acquire(tmp_path)
    assert str(refused.value) == (f"DATA_DIR: {tmp_path} is in use by the stack running as pid "
                                  f"{os.getpid()} (web http://127.0.0.1:8123/); stop it, or "
                                  "give this one another DATA_DIR")
    first.release()
    assert not lock.is_held(tmp_path)
    with lock.acquire(tmp_path) as again:
        assert lock.read_holder(tmp_path) == {"pid": str(os.getpid())}
        assert again.path == tmp_path / "run.lock"
    assert not lock.is_held(tmp_path)


def test_a_data_dir_that_cannot_be_made_is_named(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigConflict, match=rf"^DATA_DIR: {blocker}/var cannot be used \("):
        lock.acquire(blocker / "var")


def test_namespace_from_data_dir_unless_set(tmp_path: Path):
    a = namespace_for(settings_from_mapping({"DATA_DIR": str(tmp_path / "a")}))
    b = namespace_for(settings_from_mapping({"DATA_DIR": str(tmp_path / "b")}))
    assert a != b and a == namespace_for(settings_from_mapping({"DATA_DIR": str(tmp_path / "a")}))
    assert parse_name("REDIS_NAMESPACE", a) == a
    assert namespace_for(settings_from_mapping({"DATA_DIR": str(tmp_path / "a"),
                                                "REDIS_NAMESPACE": "mine"})) == "mine"


def test_free_port_never_hands_out_a_reserved_or_given_port(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The system may offer a port again as soon as nothing is bound to it: PORT before
    gunicorn starts, or one given to a service a moment ago. free_port skips those."""
    import stack.processes as processes

    offered = iter([40001, 40001, 40002, 40002, 40003])

    class Offering:
        def __init__(self, *args: object) -> None:
            self.port = next(offered)

        def __enter__(self) -> "Offering":
            return self

        def __exit__(self, *args: object) -> None:
            pass

        def bind(self, address: object) -> None:
            pass

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(processes, "_RESERVED", set())
    monkeypatch.setattr(processes.socket, "socket", Offering)
    processes.reserve_ports(40001)
    assert processes.free_port() == 40002  # 40001 is PORT's, offered twice
    assert processes.free_port() == 40003  # 40002 was handed out already
