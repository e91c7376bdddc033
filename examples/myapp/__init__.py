"""A stand-in application for the examples: the fallbacks that examples/policies.yaml names."""
