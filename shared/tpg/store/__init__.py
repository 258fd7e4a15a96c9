"""Persistence: connection handling, every SQL statement, typed rows and job states."""
