"""Cross-cutting pieces every layer may use: settings, observability, AWS clients, base errors,
text cleaning.
"""
