"""Where a node is: `tcp://host:port` (node-to-node, any relay) or `unix:///path` (node-to-client,
our own node's socket)."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

EXPECTED = "tcp://host:port (a relay) or unix:///path/to/node.socket (own node)"


@dataclass(frozen=True)
class NodeAddress:
    scheme: str  # "tcp" or "unix"
    host: str = ""
    port: int = 0
    path: str = ""

    @property
    def node_to_client(self) -> bool:
        """A Unix socket is our own node: node-to-client. TCP is a relay: node-to-node."""
        return self.scheme == "unix"

    def __str__(self) -> str:
        return f"unix://{self.path}" if self.scheme == "unix" else f"tcp://{self.host}:{self.port}"


def parse_node_address(text: str) -> NodeAddress:
    """Raises ValueError naming what is expected."""
    parts = urlsplit(text.strip())
    if parts.scheme == "unix":
        path = parts.netloc + parts.path if parts.netloc else parts.path
        if path.startswith("/"):
            return NodeAddress("unix", path=path)
    elif parts.scheme == "tcp":
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.hostname and port is not None and 1 <= port <= 65535:
            return NodeAddress("tcp", host=parts.hostname, port=port)
    raise ValueError(f"expected {EXPECTED}, got {text!r}")
