"""The local stack: what `dhl run` runs on one machine, and the services it embeds.

`stack.runner` runs it: the DATA_DIR lock (`lock`), where it listens (`ports`), its
Redis namespace (`namespace`), where its services are (`resolve`), then every Procfile
process until Ctrl-C. `stack.services` starts the embedded Redis, MongoDB server and
node simulator, which the tests start the same way. The command line (`dhl/`) only
parses arguments and delegates here.
"""
