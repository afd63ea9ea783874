"""Pipeline workers: stage loops on whichever bus the container provides."""
