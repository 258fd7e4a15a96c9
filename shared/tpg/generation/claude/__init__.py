"""The Claude provider: the Messages API client, its prompt and its answer schemas."""
