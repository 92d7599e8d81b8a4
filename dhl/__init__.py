"""The `dhl` command: run the stack and the operator tools."""
