"""The connection table's upkeep, a step of every sweep: expired tickets and connections deleted (API
Gateway closes every connection within 2 h, and its $disconnect is best effort), the open ones counted
(the RealtimeOpenConnections gauge, emitted each sweep, 0 included)."""

from __future__ import annotations

from tpg.platform.observability import Metric, count
from tpg.store import realtime as store
from tpg.store.db import Database
from tpg.store.realtime import ExpiryReport


def expire_connections(db: Database, *, batch: int) -> ExpiryReport:
    report = store.delete_expired_connections(db, batch=batch)
    count(Metric.REALTIME_OPEN_CONNECTIONS, report.open)
    return report
