-- Realtime (docs/architecture.md, "Realtime"): the WebSocket connections that receive a user's program
-- updates, and the single-use tickets they are opened with. One row is first a ticket (issued by
-- `POST /realtime/tickets`, connection_id NULL, expiring within a minute), then, once API Gateway's
-- $connect presented it, that connection (connection_id set, expiring after API Gateway's idle limit,
-- ~11 min, extended by each client message up to 2 h after $connect, when API Gateway closes every
-- connection). Only the ticket's SHA-256 is kept. Rows go at $disconnect, when a push finds the
-- connection gone (410), or, expired, by the sweeper. Tickets are issued under a per-user advisory
-- lock (tpg.store.realtime), so the per-user maximum holds under concurrent requests.

CREATE TABLE realtime_connections (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    ticket_hash bytea NOT NULL UNIQUE CHECK (octet_length(ticket_hash) = 32),
    connection_id text UNIQUE CHECK (length(connection_id) BETWEEN 1 AND 128),
    created_at timestamptz NOT NULL DEFAULT now(),
    connected_at timestamptz,
    expires_at timestamptz NOT NULL,
    -- a ticket becomes a connection once, and both together
    CONSTRAINT realtime_connections_connected_coherent CHECK ((connection_id IS NULL) = (connected_at IS NULL))
);

-- A push looks up the program owner's open connections; the sweeper deletes by expiry.
CREATE INDEX realtime_connections_user_idx ON realtime_connections (user_id) WHERE connection_id IS NOT NULL;
CREATE INDEX realtime_connections_expires_idx ON realtime_connections (expires_at);

ALTER TABLE realtime_connections ENABLE ROW LEVEL SECURITY;

-- The API issues a ticket as the caller (Row Level Security, like its other statements): it may see
-- and add its own rows only (the count of live rows bounds the connections a user can hold).
CREATE POLICY realtime_connections_own ON realtime_connections TO tpg_api_user
    USING (user_id = (SELECT request_user_id()))
    WITH CHECK (user_id = (SELECT request_user_id()));
GRANT SELECT, INSERT ON realtime_connections TO tpg_api_user;

-- The realtime function ($connect consumes a ticket, $disconnect removes the row), the pushers (read
-- the owner's connections, remove a gone one) and the sweeper (delete expired rows) act for the
-- service across users. DELETE on this table only: its rows are plumbing that expires, never user
-- data (tpg_app still has no DELETE on anything else).
CREATE POLICY realtime_connections_service ON realtime_connections TO tpg_app USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE, DELETE ON realtime_connections TO tpg_app;
