-- One definition of "the user's active subscriptions", used by the accept and retry statements.
-- A plain SQL set-returning function: the planner inlines it, and Row Level Security applies
-- to the caller as before (SECURITY INVOKER).
CREATE FUNCTION active_subscriptions(for_user uuid) RETURNS SETOF subscriptions
    LANGUAGE sql STABLE
    AS $$
        SELECT * FROM subscriptions s
        WHERE s.user_id = for_user
          AND s.status IN ('active', 'trialing')
          AND (s.current_period_end IS NULL OR s.current_period_end > now())
    $$;
