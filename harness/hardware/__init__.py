"""Hardware: machine profiles and process memory measurement."""
