-- Every request for a generation, new or a retry: what the daily quota counts, since a retry
-- spends LLM calls too (OWASP API4). Existing programs count as the requests that made them.
CREATE TABLE generation_requests (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    program_id    uuid NOT NULL REFERENCES training_programs (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('new', 'retry')),
    requested_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX generation_requests_user_time_idx ON generation_requests (user_id, requested_at DESC);

INSERT INTO generation_requests (user_id, program_id, kind, requested_at)
    SELECT user_id, id, 'new', created_at FROM training_programs;

ALTER TABLE generation_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY generation_requests_own ON generation_requests TO tpg_api_user
    USING (user_id = (SELECT request_user_id()))
    WITH CHECK (user_id = (SELECT request_user_id()));
GRANT SELECT, INSERT ON generation_requests TO tpg_api_user;

-- The quota, defined once for the accept and retry statements: is the user subscribed, under
-- the tier's quota for the last 24 hours, and when does the oldest request leave the window.
CREATE FUNCTION generation_quota(for_user uuid, default_quota integer)
    RETURNS TABLE (subscribed boolean, under_quota boolean, resets_in integer)
    LANGUAGE sql STABLE
    AS $$
        WITH subscription AS (
            SELECT coalesce(max(t.daily_generation_quota), default_quota) AS quota
            FROM active_subscriptions(for_user) s LEFT JOIN subscription_tiers t ON t.tier = s.tier
            HAVING count(*) > 0
        ),
        recent AS (
            SELECT count(*) AS used, min(requested_at) AS oldest
            FROM generation_requests
            WHERE user_id = for_user AND requested_at > now() - interval '1 day'
        )
        SELECT EXISTS (SELECT 1 FROM subscription),
               coalesce((SELECT recent.used < subscription.quota FROM subscription, recent), false),
               (SELECT ceil(extract(epoch FROM recent.oldest + interval '1 day' - now())) FROM recent)::int
    $$;
