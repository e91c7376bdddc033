"""Where the state of breakers and budgets lives: in this process, or in Redis for a fleet.

A store holds one policy's state and changes it only by the small atomic operations its
protocol names (:mod:`resilience.stores.base`); the element above it decides what they mean.
:mod:`~resilience.stores.memory` keeps it in the process, :mod:`~resilience.stores.redis`
shares it in Redis (and falls back to memory while Redis is away).
"""
