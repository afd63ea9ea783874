"""Driving adapters: the HTTP API and dashboard, the pipeline workers, the command line."""
