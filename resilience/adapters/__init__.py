"""Interop with the libraries teams already use: tenacity and pybreaker."""
