"""Where a node is; defined in core (the settings parse it), named here for chain/ code."""
from core.node_address import EXPECTED, NodeAddress, parse_node_address

__all__ = ["EXPECTED", "NodeAddress", "parse_node_address"]
