"""Local tooling: the `tpg` command, the embedded PostgreSQL, migrations, and the local stack
that runs the very same Lambda handlers behind an HTTP server and a thread-pool dispatcher."""
