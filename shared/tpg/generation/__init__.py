"""Program generation: the ports (provider protocols, request/result types, tier errors), the
pipeline that runs the tiers and validates, and the providers (offline rules engine, Claude).
"""
