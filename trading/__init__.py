"""Pure trading logic: venue selection; positions, their legs and their transition table
(legs.py, positions.py, transitions.py, position_codec.py); risk maths next."""
