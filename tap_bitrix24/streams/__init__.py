"""Singer streams and their schema mapping."""
