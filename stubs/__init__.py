"""Loopback stub servers for the venue and DexHunter APIs, answering from the recorded
bodies in the fixtures: the offline demo's and the tests' stand-ins for the real APIs
(no network here). They listen on 127.0.0.1 only."""
