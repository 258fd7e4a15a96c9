-- The request id of the invocation that holds the claim: an on-failure destination record
-- (generate crashed or timed out) names that invocation, and only its own lease is expired.
ALTER TABLE training_programs ADD COLUMN claimed_by text;
