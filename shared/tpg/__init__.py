"""Training-program generation: the Lambda layer package.

Everything of substance lives here; the handlers in ``functions/`` only wire Powertools
and call into this package. Importing a module never reads the environment or opens a
connection: settings and clients are created lazily on first use.
"""
