-- Row Level Security: a second wall behind the user filter of every API query. The API runs its
-- statements as the non-owner role tpg_api_user with the caller's claims set for the transaction
-- (tpg.db), so a query that forgot its `user_id = ...` still sees only the caller's rows. The
-- worker and the sweeper act for the service and run as the owner, which RLS does not bind.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tpg_api_user') THEN
        CREATE ROLE tpg_api_user NOLOGIN;
    END IF;
END
$$;
-- The connecting role must be allowed to SET ROLE to it (a no-op for a superuser).
GRANT tpg_api_user TO CURRENT_USER;

-- The caller's user id from the claims the API sets per transaction (Supabase's auth.uid()).
CREATE FUNCTION request_user_id() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT (nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub')::uuid $$;

ALTER TABLE profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE onboarding_responses ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE training_programs ENABLE ROW LEVEL SECURITY;

CREATE POLICY profiles_own ON profiles TO tpg_api_user
    USING (id = (SELECT request_user_id()));
CREATE POLICY onboarding_responses_own ON onboarding_responses TO tpg_api_user
    USING (user_id = (SELECT request_user_id()));
CREATE POLICY subscriptions_own ON subscriptions TO tpg_api_user
    USING (user_id = (SELECT request_user_id()));
CREATE POLICY training_programs_own ON training_programs TO tpg_api_user
    USING (user_id = (SELECT request_user_id()))
    WITH CHECK (user_id = (SELECT request_user_id()));

GRANT SELECT ON profiles, onboarding_responses, subscriptions, subscription_tiers TO tpg_api_user;
GRANT SELECT, INSERT, UPDATE ON training_programs TO tpg_api_user;
