-- Batch generation (docs/architecture.md, "Batches"): a service caller asks for programs for many
-- users at once; each member is a normal training_programs row with a batch id, answered through
-- Anthropic's Message Batches API (half price) and validated like any other answer, or run through
-- the normal queue at the lowest priority (the rules engine, or a failed answer's fallback).
--
-- Only additions the code already deployed keeps working with: a status only the new code writes,
-- a wider priority range, the one-in-flight index covering that status (the accept statement's
-- ON CONFLICT clause still infers it: its predicate implies the new one), new tables and grants.

-- --- A member waiting on its Message Batch -----------------------------------------------------
-- `batched`: its request is with the Message Batches API (or about to be). Never claimed by
-- generate and never failed by the sweeper for waiting (their statements only look at pending and
-- processing); the batch step moves it on. The API shows it as pending (stage queued).
ALTER TABLE training_programs DROP CONSTRAINT training_programs_generation_status_check;
ALTER TABLE training_programs
    ADD CONSTRAINT training_programs_generation_status_check CHECK (
        generation_status IN (
            'pending', 'batched', 'processing', 'cancelling', 'completed', 'failed', 'cancelled'));

-- A batch member is its user's generation in flight, like any other (docs/decisions.md): a user
-- has at most one pending, batched or processing row.
DROP INDEX training_programs_one_in_flight_per_user;
CREATE UNIQUE INDEX training_programs_one_in_flight_per_user ON training_programs (user_id)
    WHERE generation_status IN ('pending', 'batched', 'processing');

-- A member cancelled with its batch says so apart from a user's own cancel (BATCH_CANCELLED).
ALTER TABLE training_programs DROP CONSTRAINT training_programs_cancelled_says_so;
ALTER TABLE training_programs
    ADD CONSTRAINT training_programs_cancelled_says_so
        CHECK (generation_status <> 'cancelled' OR error_code IN ('CANCELLED', 'BATCH_CANCELLED'));

-- Batch members queue below every subscription tier (priority < 0: ranked later than a request of
-- the lowest tier arriving at the same time, by |priority| x the aging step).
ALTER TABLE training_programs DROP CONSTRAINT training_programs_priority_check;
ALTER TABLE training_programs
    ADD CONSTRAINT training_programs_priority_check CHECK (priority BETWEEN -100 AND 100);

-- --- Batches, their members, their Message Batches ---------------------------------------------
CREATE TABLE generation_batches (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    weeks smallint NOT NULL CHECK (weeks BETWEEN 1 AND 12),
    -- the service token's `sub`, when it has one (who asked, for the operators)
    requested_by text CHECK (length(requested_by) <= 200),
    -- the caller's Idempotency-Key and a digest of the request it came with: a repeat of the same
    -- request answers the same batch, another request under the same key is refused
    idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_digest text CHECK (length(request_digest) = 64),
    created_at timestamptz NOT NULL DEFAULT now(),
    cancel_requested_at timestamptz,
    CONSTRAINT generation_batches_key_has_digest CHECK ((idempotency_key IS NULL) = (request_digest IS NULL))
);
-- a key is unique per caller (a token without `sub` is one caller)
CREATE UNIQUE INDEX generation_batches_idempotency_key
    ON generation_batches ((coalesce(requested_by, '')), idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- GET /batches: a caller's batches, newest first
CREATE INDEX generation_batches_requested_by_idx
    ON generation_batches ((coalesce(requested_by, '')), created_at DESC, id DESC);

ALTER TABLE training_programs
    ADD COLUMN batch_id uuid REFERENCES generation_batches (id) ON DELETE SET NULL;
CREATE INDEX training_programs_batch_idx ON training_programs (batch_id, generation_status)
    WHERE batch_id IS NOT NULL;

-- One Message Batch (a chunk of a batch's members, within the API's limits). `submitting` until
-- the API gave it an id; a step that dies in between leaves it to be reclaimed when its lease ends.
CREATE TABLE generation_batch_chunks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    batch_id uuid NOT NULL REFERENCES generation_batches (id) ON DELETE CASCADE,
    -- abandoned: never made it to the API (its members were submitted again, or queued)
    state text NOT NULL DEFAULT 'submitting'
        CHECK (state IN ('submitting', 'in_progress', 'ended', 'collected', 'abandoned')),
    message_batch_id text UNIQUE CHECK (length(message_batch_id) BETWEEN 1 AND 200),
    -- what each of its requests asks (the first LLM tier's model and ask when it was submitted)
    model text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    ask text NOT NULL CHECK (ask IN ('compact', 'full')),
    -- the batch step working on it (submitting or collecting); past it, another step takes over
    lease_expires_at timestamptz,
    -- the batch was cancelled and the Message Batch was asked to stop
    cancel_sent_at timestamptz,
    -- the API's request_counts when it ended (succeeded, errored, canceled, expired)
    request_counts jsonb,
    -- Answers the API billed that no member's program holds (its member was cancelled or deleted
    -- before the answer was saved): written once, when the chunk is collected; the batch's usage
    -- is its members' plus these.
    unsaved_answers integer NOT NULL DEFAULT 0 CHECK (unsaved_answers >= 0),
    unsaved_input_tokens bigint NOT NULL DEFAULT 0 CHECK (unsaved_input_tokens >= 0),
    unsaved_output_tokens bigint NOT NULL DEFAULT 0 CHECK (unsaved_output_tokens >= 0),
    unsaved_cost_usd numeric(14, 6) NOT NULL DEFAULT 0 CHECK (unsaved_cost_usd >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    submitted_at timestamptz,
    ended_at timestamptz,
    collected_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT generation_batch_chunks_submitted_has_id
        CHECK (state IN ('submitting', 'abandoned') OR message_batch_id IS NOT NULL)
);
CREATE INDEX generation_batch_chunks_open_idx ON generation_batch_chunks (state)
    WHERE state NOT IN ('collected', 'abandoned');

-- Every user id a batch was asked for, in order: its program, or why it got none.
CREATE TABLE generation_batch_members (
    batch_id uuid NOT NULL REFERENCES generation_batches (id) ON DELETE CASCADE,
    position integer NOT NULL CHECK (position >= 0),
    user_id uuid NOT NULL,  -- as requested: no foreign key, an unknown user is reported
    -- a deleted program (its user's, or with their account) leaves the member, without it: the
    -- batch still reports every user id it was asked for (PROGRAM_DELETED)
    program_id uuid UNIQUE REFERENCES training_programs (id) ON DELETE SET NULL,
    rejected text CHECK (rejected IN (
        'USER_NOT_FOUND', 'SUBSCRIPTION_REQUIRED', 'ONBOARDING_INCOMPLETE', 'GENERATION_IN_FLIGHT')),
    -- GENERATION_IN_FLIGHT: the program that was in flight (no foreign key: it is only reported)
    in_flight_program_id uuid,
    -- the Message Batch its request went in
    chunk_id uuid REFERENCES generation_batch_chunks (id) ON DELETE SET NULL,
    -- set when it is to go through the normal queue instead (the rules engine, a failed, errored
    -- or expired answer, a profile the batch could not ask for): the batch step queues it from then
    -- on, a few at a time
    fallback_at timestamptz,
    -- its answer, kept when it did not pass validation: the worker's repair round quotes it
    answer jsonb,
    PRIMARY KEY (batch_id, position),
    CONSTRAINT generation_batch_members_program_or_reason CHECK (program_id IS NULL OR rejected IS NULL)
);
CREATE INDEX generation_batch_members_chunk_idx ON generation_batch_members (chunk_id)
    WHERE chunk_id IS NOT NULL;
CREATE INDEX generation_batch_members_fallback_idx ON generation_batch_members (fallback_at)
    WHERE fallback_at IS NOT NULL;

-- --- What the service may do (docs/architecture.md, "Database roles") ----------------------------
-- The batch statements act across users, as tpg_app: they read subscriptions (the accept checks),
-- insert batch members (only rows with a batch id) and keep the batch tables. The API role
-- (tpg_api_user) gets nothing here: a user reads a member through the usual program routes.
GRANT SELECT ON subscriptions, subscription_tiers TO tpg_app;
CREATE POLICY subscriptions_service ON subscriptions FOR SELECT TO tpg_app USING (true);
GRANT INSERT ON training_programs TO tpg_app;
CREATE POLICY training_programs_service_insert ON training_programs FOR INSERT TO tpg_app
    WITH CHECK (batch_id IS NOT NULL);

GRANT SELECT, INSERT, UPDATE ON generation_batches, generation_batch_chunks, generation_batch_members
    TO tpg_app;
ALTER TABLE generation_batches ENABLE ROW LEVEL SECURITY;
ALTER TABLE generation_batch_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE generation_batch_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY generation_batches_service ON generation_batches FOR ALL TO tpg_app
    USING (true) WITH CHECK (true);
CREATE POLICY generation_batch_chunks_service ON generation_batch_chunks FOR ALL TO tpg_app
    USING (true) WITH CHECK (true);
CREATE POLICY generation_batch_members_service ON generation_batch_members FOR ALL TO tpg_app
    USING (true) WITH CHECK (true);
