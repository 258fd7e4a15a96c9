"""Background work: the generate worker, the sweeper, dispatch to the generate function, events."""
