-- Coherent generation states, enforced by the database (docs/architecture.md, "State machine"):
-- whatever writes a row, a state and its columns cannot contradict each other. Every statement in
-- tpg.store.repository satisfies these, and so do the rows written before them: a program is only
-- ever stored with `completed` (rows from before background generation were backfilled to
-- `completed`), completing clears the error, and a claim only counts an attempt while
-- attempts < max_attempts (a retry raises max_attempts above attempts).
-- progress BETWEEN 0 AND 100, attempts >= 0 and max_attempts >= 1 are checked since 20250802090000.

-- Rows written before any of this history (the app's own, backfilled to `completed`) are made
-- coherent first, so the constraints validate on a database that has lived: a completed row
-- without a program fails as INTERNAL_ERROR (its user can retry), a failed row without a code gets
-- one, a processing row without a lease gets an expired one (the sweeper reclaims it).
UPDATE training_programs
SET generation_status = 'failed', error_code = 'INTERNAL_ERROR', completed_at = NULL
WHERE generation_status = 'completed' AND program IS NULL;
UPDATE training_programs SET completed_at = updated_at
WHERE generation_status = 'completed' AND completed_at IS NULL;
UPDATE training_programs SET error_code = NULL, generation_error = NULL
WHERE generation_status = 'completed' AND (error_code IS NOT NULL OR generation_error IS NOT NULL);
UPDATE training_programs SET program = NULL
WHERE generation_status <> 'completed' AND program IS NOT NULL;
UPDATE training_programs SET error_code = 'INTERNAL_ERROR'
WHERE generation_status = 'failed' AND error_code IS NULL;
UPDATE training_programs SET lease_expires_at = now(), attempts = greatest(attempts, 1)
WHERE generation_status = 'processing' AND (lease_expires_at IS NULL OR attempts < 1);
UPDATE training_programs SET max_attempts = attempts WHERE attempts > max_attempts;

ALTER TABLE training_programs
    -- a program belongs to a completed row only: a pending, processing or failed row has none
    ADD CONSTRAINT training_programs_program_only_when_completed
        CHECK (program IS NULL OR generation_status = 'completed'),
    -- a completed row carries no error (an earlier attempt's code is cleared when it completes)
    ADD CONSTRAINT training_programs_completed_has_no_error
        CHECK (generation_status <> 'completed' OR (error_code IS NULL AND generation_error IS NULL)),
    -- attempts are claimed only while some are left
    ADD CONSTRAINT training_programs_attempts_within_max
        CHECK (attempts <= max_attempts),
    ADD CONSTRAINT training_programs_dispatch_count_check
        CHECK (dispatch_count >= 0);

ALTER TABLE training_programs
    -- a completed row has its program and when it completed
    ADD CONSTRAINT training_programs_completed_has_program
        CHECK (generation_status <> 'completed' OR (program IS NOT NULL AND completed_at IS NOT NULL)),
    -- a failed row says why
    ADD CONSTRAINT training_programs_failed_has_error
        CHECK (generation_status <> 'failed' OR error_code IS NOT NULL),
    -- a processing row is held by a worker: a lease and a counted attempt
    ADD CONSTRAINT training_programs_processing_holds_a_lease
        CHECK (generation_status <> 'processing' OR (lease_expires_at IS NOT NULL AND attempts >= 1));
