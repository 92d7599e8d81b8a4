"""Pure trading logic: venue selection now; positions, legs and risk maths next."""
