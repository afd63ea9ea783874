"""Driven adapters: one sub-package per technology, each implementing ports from ``fraud.domain``.

Only the composition root (``fraud.containers``) and the entrypoints choose
which adapter plays which port; nothing in the core imports from here.
"""
