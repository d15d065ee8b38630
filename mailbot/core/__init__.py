"""The pure core: everything that decides. No I/O library, no clock (``now`` is an argument).

Any module placed here falls under the pure contract by where it lives (``.importlinter``,
``tests/unit/test_layers.py``).
"""
