-- The application role: what the Lambdas' login role is granted, so that the service does not run as
-- the owner of its tables (docs/architecture.md, "Database roles"). tpg_app is a NOLOGIN group role;
-- each environment creates a LOGIN role IN ROLE tpg_app and puts it in the DATABASE_URL secret, while
-- `tpg migrate` keeps running as the owner.
--
-- Exactly what the statements of tpg.store.repository need:
--   * the worker and the sweeper, as tpg_app: SELECT and UPDATE on training_programs (claim,
--     progress, finish, result cache, reclaim, re-dispatch, stuck count) and SELECT on profiles and
--     onboarding_responses (read with the claim);
--   * the API, as tpg_api_user (`set_config('role', 'tpg_api_user', true)`): membership in it; its
--     own grants and policies (20251128122000_row_level_security.sql) do the rest;
--   * EXECUTE on the service's SQL functions (PUBLIC has it too; granted so revoking that stays safe).
-- No DELETE, no TRUNCATE, no DDL, no schema_migrations. There are no default privileges: a later
-- migration that adds a table or function the service uses grants it to tpg_app itself (the snapshot
-- shows the grants).

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tpg_app') THEN
        CREATE ROLE tpg_app NOLOGIN;
    END IF;
END
$$;

GRANT tpg_api_user TO tpg_app;

GRANT SELECT, UPDATE ON training_programs TO tpg_app;
GRANT SELECT ON profiles, onboarding_responses TO tpg_app;
GRANT EXECUTE ON FUNCTION request_user_id(), active_subscriptions(uuid), generation_quota(uuid, integer) TO tpg_app;

-- RLS binds every role but the owner (and superusers): the worker and the sweeper act for the
-- service across users, so tpg_app sees every row of the tables they read. tpg_api_user is not a
-- member of tpg_app, so these policies never apply to the API's statements.
CREATE POLICY training_programs_service ON training_programs FOR SELECT TO tpg_app USING (true);
CREATE POLICY training_programs_service_update ON training_programs FOR UPDATE TO tpg_app
    USING (true) WITH CHECK (true);
CREATE POLICY profiles_service ON profiles FOR SELECT TO tpg_app USING (true);
CREATE POLICY onboarding_responses_service ON onboarding_responses FOR SELECT TO tpg_app USING (true);
