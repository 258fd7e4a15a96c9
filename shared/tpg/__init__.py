"""Training-program generation: the Lambda layer package.

Everything of substance lives here; the handlers in ``functions/`` only wire Powertools and
call into this package. Each handler is the composition root of its function: on its first
invocation it reads the settings (``Settings.from_environment()``, the only reader of the
environment) and builds the database access, the dispatcher and the event publisher, then passes
them down (``tpg.platform.wiring``). Importing a module never reads the environment or opens a
connection.
"""
