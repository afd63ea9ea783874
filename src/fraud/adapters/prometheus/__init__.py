"""Prometheus adapters: the pipeline's metrics in the text exposition format."""
