"""The connection table's upkeep, a step of every sweep: expired tickets and connections deleted (API
Gateway closes a connection after 10 idle minutes and every one within 2 h, and its $disconnect is
best effort), the open ones counted (the RealtimeOpenConnections gauge, emitted each sweep, 0
included)."""

from __future__ import annotations

from tpg.platform.observability import Metric, count
from tpg.store import realtime as store
from tpg.store.db import Database
from tpg.store.realtime import ExpiryReport

# Statements of `batch` rows a sweep may spend: a minute's tickets and connections at the sized
# peak (docs/operations.md, "Sizing") are a few hundred rows, so one statement is the usual case;
# a backlog (sweeps missed) is worked off `batch x EXPIRY_MAX_BATCHES` rows a sweep.
EXPIRY_MAX_BATCHES = 50


def expire_connections(db: Database, *, batch: int) -> ExpiryReport:
    report = store.delete_expired_connections(db, batch=batch, max_batches=EXPIRY_MAX_BATCHES)
    count(Metric.REALTIME_OPEN_CONNECTIONS, report.open)
    return report
