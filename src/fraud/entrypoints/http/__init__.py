"""The Flask application: REST API and monitoring dashboard."""
