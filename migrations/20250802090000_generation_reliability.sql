-- What the reliability design needs: leases and attempts for the claim, progress for the UI,
-- timestamps for the sweeper and the metrics, and the one-in-flight-per-user rule (I1).

ALTER TABLE training_programs
    ADD COLUMN request            jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN attempts           integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN max_attempts       integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    ADD COLUMN lease_expires_at   timestamptz,
    ADD COLUMN stage              text CHECK (stage IN ('queued', 'analyzing', 'generating', 'validating', 'saving')),
    ADD COLUMN progress           smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    ADD COLUMN error_code         text,
    ADD COLUMN dispatched_at      timestamptz,
    ADD COLUMN dispatch_count     integer NOT NULL DEFAULT 0,
    ADD COLUMN started_at         timestamptz,
    ADD COLUMN completed_at       timestamptz,
    ADD COLUMN provider           text,
    ADD COLUMN model              text,
    ADD COLUMN fallback_tier      text,
    ADD COLUMN validation_report  jsonb,
    ADD COLUMN usage              jsonb;

-- Rows from before background generation are finished: mark when, for the metrics.
UPDATE training_programs SET completed_at = updated_at WHERE generation_status = 'completed';

-- I1: at most one generation in flight per user, enforced by the database.
CREATE UNIQUE INDEX training_programs_one_in_flight_per_user
    ON training_programs (user_id)
    WHERE generation_status IN ('pending', 'processing');

-- The sweeper scans only in-flight rows.
CREATE INDEX training_programs_in_flight_idx
    ON training_programs (generation_status, updated_at)
    WHERE generation_status IN ('pending', 'processing');

-- The list endpoint: a user's programs, newest first, keyset-paginated on (created_at, id).
CREATE INDEX training_programs_user_created_idx ON training_programs (user_id, created_at DESC, id DESC);
