-- The LLM pipeline's record of each generation (docs/llm-pipeline.md): what the request hashed to
-- (the result cache's key), which prompt produced it, and what it cost. `usage` (jsonb) keeps the
-- per-tier detail; the columns are what capacity and cost queries aggregate.
ALTER TABLE training_programs
    ADD COLUMN request_fingerprint text,
    ADD COLUMN prompt_version      text,
    ADD COLUMN llm_requests        integer CHECK (llm_requests >= 0),
    ADD COLUMN input_tokens        integer CHECK (input_tokens >= 0),
    ADD COLUMN output_tokens       integer CHECK (output_tokens >= 0),
    ADD COLUMN cache_read_tokens   integer CHECK (cache_read_tokens >= 0),
    ADD COLUMN cache_write_tokens  integer CHECK (cache_write_tokens >= 0),
    ADD COLUMN llm_latency_ms      integer CHECK (llm_latency_ms >= 0);

-- The result cache's lookup: the newest completed program with a fingerprint, within a TTL.
CREATE INDEX training_programs_result_cache_idx
    ON training_programs (request_fingerprint, completed_at DESC)
    WHERE generation_status = 'completed' AND request_fingerprint IS NOT NULL;
