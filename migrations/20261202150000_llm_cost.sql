-- What each generation's LLM calls cost (docs/llm-pipeline.md, "Cost"): the thinking tokens among
-- its output tokens, and the cost at the list prices configured when it ran (LLM_PRICES), summed over
-- every answer of the job. NULL for rows written before, for offline programs and result-cache hits
-- (which cost nothing at the LLM: llm_requests = 0), and for a model without a configured price.
-- The table-level grants (UPDATE on training_programs to tpg_app) cover the new columns.
ALTER TABLE training_programs
    ADD COLUMN thinking_tokens integer CHECK (thinking_tokens >= 0),
    ADD COLUMN llm_cost_usd    numeric(12, 6) CHECK (llm_cost_usd >= 0);
