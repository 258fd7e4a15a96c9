"""Realtime: program updates pushed over API Gateway WebSocket connections, polling as the fallback.

`tickets` issues the single-use connect tickets (`POST /realtime/tickets`), `handler` serves the
WebSocket API's $connect/$disconnect/$default, `push` posts each committed state change to the owner's
open connections through the API Gateway Management API, `messages` is the wire contract
(docs/frontend.md, "Live updates"). The database stays the source of truth: a push is best effort.
"""
