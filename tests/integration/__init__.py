"""Integration tests: real client libraries against real servers on 127.0.0.1."""
