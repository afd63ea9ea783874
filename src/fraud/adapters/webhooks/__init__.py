"""Sending webhook events to receivers over HTTP."""
