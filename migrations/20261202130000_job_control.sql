-- Job control (docs/architecture.md, "Queue order, waiting and cancellation"): priority by
-- subscription tier, a wait bounded in time per tier, and cancellation.
--
-- Only additions the code already deployed keeps working with: new columns with defaults (an
-- insert by the old accept statement gets priority 0, ranked and queued now), two new statuses
-- that only the new code writes, a function the old code never calls, and the quota function
-- replaced with the same signature. The one-in-flight index is untouched: a row being cancelled
-- has its own status, `cancelling`, which that index does not cover, so a new request is
-- accepted at once while the worker winds down.

-- --- Priority and the wait bound, per tier (data, like the daily quota) ----------------------------
ALTER TABLE subscription_tiers
    -- higher starts first; each point ranks a job GENERATION_PRIORITY_AGING_SECONDS earlier
    ADD COLUMN priority smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 100),
    -- a job still waiting to start after this long is failed (QUEUE_TIMEOUT or NEVER_CLAIMED)
    ADD COLUMN max_wait_seconds integer NOT NULL DEFAULT 7200 CHECK (max_wait_seconds >= 60);
UPDATE subscription_tiers SET priority = 10 WHERE tier = 'premium';

-- The caller's tier as the accept and retry statements use it: the best of their active
-- subscriptions; a tier without a row gets priority 0 and `default_max_wait`.
CREATE FUNCTION generation_tier(for_user uuid, default_max_wait integer)
    RETURNS TABLE (priority smallint, max_wait_seconds integer)
    LANGUAGE sql STABLE
    AS $$
        SELECT coalesce(max(t.priority), 0)::smallint,
               coalesce(max(t.max_wait_seconds), default_max_wait)
        FROM active_subscriptions(for_user) s LEFT JOIN subscription_tiers t ON t.tier = s.tier
    $$;
GRANT EXECUTE ON FUNCTION generation_tier(uuid, integer) TO tpg_app;

-- --- Each generation's place in the queue ----------------------------------------------------------
ALTER TABLE training_programs
    -- the tier's, stored at accept (and at a retry): a later change of tier does not reorder it
    ADD COLUMN priority smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 100),
    ADD COLUMN max_wait_seconds integer NOT NULL DEFAULT 7200 CHECK (max_wait_seconds >= 60),
    -- when the row last became pending (accept, retry, release, reclaim): its wait is bounded from here
    ADD COLUMN queued_at timestamptz NOT NULL DEFAULT now(),
    -- the claim order: accepted (or retried) at, moved earlier by priority x the aging step; a row
    -- released for another attempt keeps its place
    ADD COLUMN ranked_at timestamptz NOT NULL DEFAULT now(),
    -- the latest claim (started_at is the first): a claim since a row was queued means generate was
    -- running while it waited
    ADD COLUMN claimed_at timestamptz,
    ADD COLUMN cancel_requested_at timestamptz;

-- Rows already waiting keep their age: ranked and queued from when they were accepted (not from
-- this migration), with their owner's tier as an accept now stores it (the aging step at its
-- default, 60 s a point). A row that has waited past its bound is then failed by the next sweep.
UPDATE training_programs tp
SET (priority, max_wait_seconds, queued_at, ranked_at) = (
    SELECT t.priority, t.max_wait_seconds, tp.created_at,
           tp.created_at - make_interval(secs => t.priority * 60)
    FROM generation_tier(tp.user_id, 7200) t
)
WHERE tp.generation_status = 'pending';

-- generate takes the pending row ranked first (FOR UPDATE SKIP LOCKED walks this index)
CREATE INDEX training_programs_claim_order_idx ON training_programs (ranked_at)
    WHERE generation_status = 'pending';
-- the sweeper's "has anything been claimed since": max(claimed_at)
CREATE INDEX training_programs_claimed_at_idx ON training_programs (claimed_at)
    WHERE claimed_at IS NOT NULL;

-- --- Cancellation ------------------------------------------------------------------------------------
-- cancelling: a processing row whose owner asked to stop it; its worker still holds the lease and
-- records `cancelled` at its next checkpoint (or the sweeper does, after a grace period or when the
-- lease runs out). The API shows it as processing with cancelRequested.
ALTER TABLE training_programs DROP CONSTRAINT training_programs_generation_status_check;
ALTER TABLE training_programs
    ADD CONSTRAINT training_programs_generation_status_check CHECK (
        generation_status IN ('pending', 'processing', 'cancelling', 'completed', 'failed', 'cancelled')),
    ADD CONSTRAINT training_programs_cancelling_holds_a_lease
        CHECK (generation_status <> 'cancelling' OR (lease_expires_at IS NOT NULL AND attempts >= 1)),
    -- nothing is cancelled that nobody asked to cancel, and a cancelled row says so
    ADD CONSTRAINT training_programs_cancel_was_requested
        CHECK (generation_status NOT IN ('cancelling', 'cancelled') OR cancel_requested_at IS NOT NULL),
    ADD CONSTRAINT training_programs_cancelled_says_so
        CHECK (generation_status <> 'cancelled' OR error_code = 'CANCELLED');

-- A cancel before the generation started gives its request back to the daily quota (no LLM call
-- was made for it); once started it counts, as a retry does (docs/decisions.md).
ALTER TABLE generation_requests ADD COLUMN refunded boolean NOT NULL DEFAULT false;
GRANT UPDATE (refunded) ON generation_requests TO tpg_api_user;

CREATE OR REPLACE FUNCTION generation_quota(for_user uuid, default_quota integer)
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
            WHERE user_id = for_user AND requested_at > now() - interval '1 day' AND NOT refunded
        )
        SELECT EXISTS (SELECT 1 FROM subscription),
               coalesce((SELECT recent.used < subscription.quota FROM subscription, recent), false),
               (SELECT ceil(extract(epoch FROM recent.oldest + interval '1 day' - now())) FROM recent)::int
    $$;
