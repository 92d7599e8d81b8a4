"""The local stack: what `dhl run` runs on one machine, and the services it embeds.

`stack.runner` runs every Procfile process until Ctrl-C; `stack.services` starts the
embedded Redis, MongoDB server and node simulator (the tests start them the same way).
The command line (`dhl/`) only parses arguments and delegates here.
"""
