"""Cross-cutting pieces every layer may use: settings, the handlers' composition roots (wiring),
the clock, observability, AWS clients, base errors, text cleaning.
"""
