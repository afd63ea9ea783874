"""fraud: a real-time card-transaction fraud detection service."""

__version__ = "0.1.0"
