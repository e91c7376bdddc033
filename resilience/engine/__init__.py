"""The engine: the sans-IO core, the one sync and one async driver, Policy and its forms."""
