"""Wire formats for the pipeline's messages."""
