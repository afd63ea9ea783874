"""Synthetic labelled card transactions, for training and demos when no real data exists.

Card holders with their own habits transact over a period; legitimate surprises
(trips, big purchases, new devices and shops) and several fraud patterns are
mixed in, so that no single column tells fraud apart and a model has to learn
behaviour. Entry point: :func:`fraud.adapters.simulation.simulator.simulate`.
"""
