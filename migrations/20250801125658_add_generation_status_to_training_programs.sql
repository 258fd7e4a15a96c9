-- Programs are now generated in the background: each row carries its generation status.
-- Rows that existed before this migration were generated synchronously, so they are complete.

ALTER TABLE training_programs
    ADD COLUMN generation_status text NOT NULL DEFAULT 'completed',
    ADD COLUMN generation_error  text;

-- ADD COLUMN ... DEFAULT 'completed' backfilled the existing rows; new rows start pending.
ALTER TABLE training_programs ALTER COLUMN generation_status SET DEFAULT 'pending';

ALTER TABLE training_programs
    ADD CONSTRAINT training_programs_generation_status_check
    CHECK (generation_status IN ('pending', 'processing', 'completed', 'failed'));

CREATE INDEX training_programs_generation_status_idx ON training_programs (generation_status);
CREATE INDEX training_programs_user_status_idx ON training_programs (user_id, generation_status);
