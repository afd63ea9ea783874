"""Adapters to the operating system: the wall clock."""
