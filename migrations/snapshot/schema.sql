-- The schema the migrations build, as a document. Generated: do not edit.
-- After adding a migration run `make schema` and commit both (migrations/README.md);
-- tests/integration/test_schema_snapshot.py fails while this file is stale.

CREATE TABLE public.generation_batch_chunks (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    batch_id uuid NOT NULL,
    state text DEFAULT 'submitting'::text NOT NULL,
    message_batch_id text,
    model text NOT NULL,
    ask text NOT NULL,
    lease_expires_at timestamp with time zone,
    cancel_sent_at timestamp with time zone,
    request_counts jsonb,
    unsaved_answers integer DEFAULT 0 NOT NULL,
    unsaved_input_tokens bigint DEFAULT 0 NOT NULL,
    unsaved_output_tokens bigint DEFAULT 0 NOT NULL,
    unsaved_cost_usd numeric(14,6) DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    submitted_at timestamp with time zone,
    ended_at timestamp with time zone,
    collected_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);
ALTER TABLE public.generation_batch_chunks ADD CONSTRAINT generation_batch_chunks_ask_check CHECK (ask = ANY (ARRAY['compact'::text, 'full'::text]));
ALTER TABLE public.generation_batch_chunks ADD CONSTRAINT generation_batch_chunks_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES public.generation_batches(id) ON DELETE CASCADE;
ALTER TABLE public.generation_batch_chunks ADD CONSTRAINT generation_batch_chunks_message_batch_id_check CHECK (length(message_batch_id) >= 1 AND length(message_batch_id) <= 200);
ALTER TABLE public.generation_batch_chunks ADD CONSTRAINT generation_batch_chunks_message_batch_id_key UNIQUE (message_batch_id);
ALTER TABLE public.generation_batch_chunks ADD CONSTRAINT generation_batch_chunks_model_check CHECK (length(model) >= 1 AND length(model) <= 200);
ALTER TABLE public.generation_batch_chunks ADD CONSTRAINT generation_batch_chunks_pkey PRIMARY KEY (id);
ALTER TABLE public.generation_batch_chunks ADD CONSTRAINT generation_batch_chunks_state_check CHECK (state = ANY (ARRAY['submitting'::text, 'in_progress'::text, 'ended'::text, 'collected'::text, 'abandoned'::text]));
ALTER TABLE public.generation_batch_chunks ADD CONSTRAINT generation_batch_chunks_submitted_has_id CHECK ((state = ANY (ARRAY['submitting'::text, 'abandoned'::text])) OR message_batch_id IS NOT NULL);
ALTER TABLE public.generation_batch_chunks ADD CONSTRAINT generation_batch_chunks_unsaved_answers_check CHECK (unsaved_answers >= 0);
ALTER TABLE public.generation_batch_chunks ADD CONSTRAINT generation_batch_chunks_unsaved_cost_usd_check CHECK (unsaved_cost_usd >= 0::numeric);
ALTER TABLE public.generation_batch_chunks ADD CONSTRAINT generation_batch_chunks_unsaved_input_tokens_check CHECK (unsaved_input_tokens >= 0);
ALTER TABLE public.generation_batch_chunks ADD CONSTRAINT generation_batch_chunks_unsaved_output_tokens_check CHECK (unsaved_output_tokens >= 0);
CREATE INDEX generation_batch_chunks_open_idx ON public.generation_batch_chunks USING btree (state) WHERE (state <> ALL (ARRAY['collected'::text, 'abandoned'::text]));
ALTER TABLE public.generation_batch_chunks ENABLE ROW LEVEL SECURITY;

CREATE TABLE public.generation_batch_members (
    batch_id uuid NOT NULL,
    "position" integer NOT NULL,
    user_id uuid NOT NULL,
    program_id uuid,
    rejected text,
    in_flight_program_id uuid,
    chunk_id uuid,
    fallback_at timestamp with time zone,
    answer jsonb
);
ALTER TABLE public.generation_batch_members ADD CONSTRAINT generation_batch_members_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES public.generation_batches(id) ON DELETE CASCADE;
ALTER TABLE public.generation_batch_members ADD CONSTRAINT generation_batch_members_chunk_id_fkey FOREIGN KEY (chunk_id) REFERENCES public.generation_batch_chunks(id) ON DELETE SET NULL;
ALTER TABLE public.generation_batch_members ADD CONSTRAINT generation_batch_members_pkey PRIMARY KEY (batch_id, "position");
ALTER TABLE public.generation_batch_members ADD CONSTRAINT generation_batch_members_position_check CHECK ("position" >= 0);
ALTER TABLE public.generation_batch_members ADD CONSTRAINT generation_batch_members_program_id_fkey FOREIGN KEY (program_id) REFERENCES public.training_programs(id) ON DELETE SET NULL;
ALTER TABLE public.generation_batch_members ADD CONSTRAINT generation_batch_members_program_id_key UNIQUE (program_id);
ALTER TABLE public.generation_batch_members ADD CONSTRAINT generation_batch_members_program_or_reason CHECK (program_id IS NULL OR rejected IS NULL);
ALTER TABLE public.generation_batch_members ADD CONSTRAINT generation_batch_members_rejected_check CHECK (rejected = ANY (ARRAY['USER_NOT_FOUND'::text, 'SUBSCRIPTION_REQUIRED'::text, 'ONBOARDING_INCOMPLETE'::text, 'GENERATION_IN_FLIGHT'::text]));
CREATE INDEX generation_batch_members_chunk_idx ON public.generation_batch_members USING btree (chunk_id) WHERE (chunk_id IS NOT NULL);
CREATE INDEX generation_batch_members_fallback_idx ON public.generation_batch_members USING btree (fallback_at) WHERE (fallback_at IS NOT NULL);
ALTER TABLE public.generation_batch_members ENABLE ROW LEVEL SECURITY;

CREATE TABLE public.generation_batches (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    weeks smallint NOT NULL,
    requested_by text,
    idempotency_key text,
    request_digest text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    cancel_requested_at timestamp with time zone
);
ALTER TABLE public.generation_batches ADD CONSTRAINT generation_batches_idempotency_key_check CHECK (length(idempotency_key) >= 1 AND length(idempotency_key) <= 200);
ALTER TABLE public.generation_batches ADD CONSTRAINT generation_batches_key_has_digest CHECK ((idempotency_key IS NULL) = (request_digest IS NULL));
ALTER TABLE public.generation_batches ADD CONSTRAINT generation_batches_name_check CHECK (length(name) >= 1 AND length(name) <= 100);
ALTER TABLE public.generation_batches ADD CONSTRAINT generation_batches_pkey PRIMARY KEY (id);
ALTER TABLE public.generation_batches ADD CONSTRAINT generation_batches_request_digest_check CHECK (length(request_digest) = 64);
ALTER TABLE public.generation_batches ADD CONSTRAINT generation_batches_requested_by_check CHECK (length(requested_by) <= 200);
ALTER TABLE public.generation_batches ADD CONSTRAINT generation_batches_weeks_check CHECK (weeks >= 1 AND weeks <= 12);
CREATE UNIQUE INDEX generation_batches_idempotency_key ON public.generation_batches USING btree (COALESCE(requested_by, ''::text), idempotency_key) WHERE (idempotency_key IS NOT NULL);
CREATE INDEX generation_batches_requested_by_idx ON public.generation_batches USING btree (COALESCE(requested_by, ''::text), created_at DESC, id DESC);
ALTER TABLE public.generation_batches ENABLE ROW LEVEL SECURITY;

CREATE TABLE public.generation_requests (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    program_id uuid NOT NULL,
    kind text NOT NULL,
    requested_at timestamp with time zone DEFAULT now() NOT NULL,
    refunded boolean DEFAULT false NOT NULL
);
ALTER TABLE public.generation_requests ADD CONSTRAINT generation_requests_kind_check CHECK (kind = ANY (ARRAY['new'::text, 'retry'::text]));
ALTER TABLE public.generation_requests ADD CONSTRAINT generation_requests_pkey PRIMARY KEY (id);
ALTER TABLE public.generation_requests ADD CONSTRAINT generation_requests_program_id_fkey FOREIGN KEY (program_id) REFERENCES public.training_programs(id) ON DELETE CASCADE;
ALTER TABLE public.generation_requests ADD CONSTRAINT generation_requests_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.profiles(id) ON DELETE CASCADE;
CREATE INDEX generation_requests_user_time_idx ON public.generation_requests USING btree (user_id, requested_at DESC);
ALTER TABLE public.generation_requests ENABLE ROW LEVEL SECURITY;

CREATE TABLE public.onboarding_responses (
    user_id uuid NOT NULL,
    goal text,
    experience text,
    training_months integer DEFAULT 0 NOT NULL,
    days_per_week integer,
    session_minutes integer,
    equipment text[] DEFAULT '{}'::text[] NOT NULL,
    injuries text[] DEFAULT '{}'::text[] NOT NULL,
    lifts jsonb DEFAULT '[]'::jsonb NOT NULL,
    notes text,
    completed_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    injury_details jsonb DEFAULT '[]'::jsonb NOT NULL,
    conditions text[] DEFAULT '{}'::text[] NOT NULL,
    medical_clearance boolean DEFAULT false NOT NULL,
    pregnancy_weeks integer,
    postpartum_weeks integer,
    refused_exercises text[] DEFAULT '{}'::text[] NOT NULL,
    max_dumbbell_kg numeric(5,1),
    event_date date
);
ALTER TABLE public.onboarding_responses ADD CONSTRAINT onboarding_pregnant_or_postpartum CHECK (pregnancy_weeks IS NULL OR postpartum_weeks IS NULL);
ALTER TABLE public.onboarding_responses ADD CONSTRAINT onboarding_responses_days_per_week_check CHECK (days_per_week >= 1 AND days_per_week <= 7);
ALTER TABLE public.onboarding_responses ADD CONSTRAINT onboarding_responses_experience_check CHECK (experience = ANY (ARRAY['novice'::text, 'intermediate'::text, 'advanced'::text]));
ALTER TABLE public.onboarding_responses ADD CONSTRAINT onboarding_responses_goal_check CHECK (goal = ANY (ARRAY['strength'::text, 'hypertrophy'::text, 'fat_loss'::text, 'general_fitness'::text]));
ALTER TABLE public.onboarding_responses ADD CONSTRAINT onboarding_responses_injury_details_check CHECK (jsonb_typeof(injury_details) = 'array'::text);
ALTER TABLE public.onboarding_responses ADD CONSTRAINT onboarding_responses_max_dumbbell_kg_check CHECK (max_dumbbell_kg > 0::numeric AND max_dumbbell_kg <= 100::numeric);
ALTER TABLE public.onboarding_responses ADD CONSTRAINT onboarding_responses_pkey PRIMARY KEY (user_id);
ALTER TABLE public.onboarding_responses ADD CONSTRAINT onboarding_responses_postpartum_weeks_check CHECK (postpartum_weeks >= 0 AND postpartum_weeks <= 104);
ALTER TABLE public.onboarding_responses ADD CONSTRAINT onboarding_responses_pregnancy_weeks_check CHECK (pregnancy_weeks >= 1 AND pregnancy_weeks <= 42);
ALTER TABLE public.onboarding_responses ADD CONSTRAINT onboarding_responses_session_minutes_check CHECK (session_minutes >= 10 AND session_minutes <= 240);
ALTER TABLE public.onboarding_responses ADD CONSTRAINT onboarding_responses_training_months_check CHECK (training_months >= 0);
ALTER TABLE public.onboarding_responses ADD CONSTRAINT onboarding_responses_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.profiles(id) ON DELETE CASCADE;
ALTER TABLE public.onboarding_responses ENABLE ROW LEVEL SECURITY;

CREATE TABLE public.profiles (
    id uuid NOT NULL,
    display_name text,
    birth_year integer,
    sex text,
    height_cm numeric(5,1),
    weight_kg numeric(5,1),
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);
ALTER TABLE public.profiles ADD CONSTRAINT profiles_birth_year_check CHECK (birth_year >= 1900 AND birth_year <= 2100);
ALTER TABLE public.profiles ADD CONSTRAINT profiles_height_cm_check CHECK (height_cm > 0::numeric);
ALTER TABLE public.profiles ADD CONSTRAINT profiles_pkey PRIMARY KEY (id);
ALTER TABLE public.profiles ADD CONSTRAINT profiles_sex_check CHECK (sex = ANY (ARRAY['male'::text, 'female'::text]));
ALTER TABLE public.profiles ADD CONSTRAINT profiles_weight_kg_check CHECK (weight_kg > 0::numeric);
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;

CREATE TABLE public.realtime_connections (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    ticket_hash bytea NOT NULL,
    connection_id text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    connected_at timestamp with time zone,
    expires_at timestamp with time zone NOT NULL
);
ALTER TABLE public.realtime_connections ADD CONSTRAINT realtime_connections_connected_coherent CHECK ((connection_id IS NULL) = (connected_at IS NULL));
ALTER TABLE public.realtime_connections ADD CONSTRAINT realtime_connections_connection_id_check CHECK (length(connection_id) >= 1 AND length(connection_id) <= 128);
ALTER TABLE public.realtime_connections ADD CONSTRAINT realtime_connections_connection_id_key UNIQUE (connection_id);
ALTER TABLE public.realtime_connections ADD CONSTRAINT realtime_connections_pkey PRIMARY KEY (id);
ALTER TABLE public.realtime_connections ADD CONSTRAINT realtime_connections_ticket_hash_check CHECK (octet_length(ticket_hash) = 32);
ALTER TABLE public.realtime_connections ADD CONSTRAINT realtime_connections_ticket_hash_key UNIQUE (ticket_hash);
ALTER TABLE public.realtime_connections ADD CONSTRAINT realtime_connections_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.profiles(id) ON DELETE CASCADE;
CREATE INDEX realtime_connections_expires_idx ON public.realtime_connections USING btree (expires_at);
CREATE INDEX realtime_connections_user_idx ON public.realtime_connections USING btree (user_id) WHERE (connection_id IS NOT NULL);
ALTER TABLE public.realtime_connections ENABLE ROW LEVEL SECURITY;

CREATE TABLE public.schema_migrations (
    version text NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);
ALTER TABLE public.schema_migrations ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

CREATE TABLE public.subscription_tiers (
    tier text NOT NULL,
    daily_generation_quota integer NOT NULL,
    priority smallint DEFAULT 0 NOT NULL,
    max_wait_seconds integer DEFAULT 7200 NOT NULL
);
ALTER TABLE public.subscription_tiers ADD CONSTRAINT subscription_tiers_daily_generation_quota_check CHECK (daily_generation_quota >= 0);
ALTER TABLE public.subscription_tiers ADD CONSTRAINT subscription_tiers_max_wait_seconds_check CHECK (max_wait_seconds >= 60);
ALTER TABLE public.subscription_tiers ADD CONSTRAINT subscription_tiers_pkey PRIMARY KEY (tier);
ALTER TABLE public.subscription_tiers ADD CONSTRAINT subscription_tiers_priority_check CHECK (priority >= 0 AND priority <= 100);

CREATE TABLE public.subscriptions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    status text NOT NULL,
    tier text DEFAULT 'standard'::text NOT NULL,
    current_period_end timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);
ALTER TABLE public.subscriptions ADD CONSTRAINT subscriptions_pkey PRIMARY KEY (id);
ALTER TABLE public.subscriptions ADD CONSTRAINT subscriptions_status_check CHECK (status = ANY (ARRAY['trialing'::text, 'active'::text, 'past_due'::text, 'canceled'::text]));
ALTER TABLE public.subscriptions ADD CONSTRAINT subscriptions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.profiles(id) ON DELETE CASCADE;
CREATE INDEX subscriptions_user_id_idx ON public.subscriptions USING btree (user_id);
ALTER TABLE public.subscriptions ENABLE ROW LEVEL SECURITY;

CREATE TABLE public.training_programs (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    name text NOT NULL,
    program jsonb,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    generation_status text DEFAULT 'pending'::text NOT NULL,
    generation_error text,
    request jsonb DEFAULT '{}'::jsonb NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 3 NOT NULL,
    lease_expires_at timestamp with time zone,
    stage text,
    progress smallint DEFAULT 0 NOT NULL,
    error_code text,
    dispatched_at timestamp with time zone,
    dispatch_count integer DEFAULT 0 NOT NULL,
    started_at timestamp with time zone,
    completed_at timestamp with time zone,
    provider text,
    model text,
    fallback_tier text,
    validation_report jsonb,
    usage jsonb,
    claimed_by text,
    request_fingerprint text,
    prompt_version text,
    llm_requests integer,
    input_tokens integer,
    output_tokens integer,
    cache_read_tokens integer,
    cache_write_tokens integer,
    llm_latency_ms integer,
    priority smallint DEFAULT 0 NOT NULL,
    max_wait_seconds integer DEFAULT 7200 NOT NULL,
    queued_at timestamp with time zone DEFAULT now() NOT NULL,
    ranked_at timestamp with time zone DEFAULT now() NOT NULL,
    claimed_at timestamp with time zone,
    cancel_requested_at timestamp with time zone,
    thinking_tokens integer,
    llm_cost_usd numeric(12,6),
    batch_id uuid
);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_attempts_check CHECK (attempts >= 0);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_attempts_within_max CHECK (attempts <= max_attempts);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES public.generation_batches(id) ON DELETE SET NULL;
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_cache_read_tokens_check CHECK (cache_read_tokens >= 0);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_cache_write_tokens_check CHECK (cache_write_tokens >= 0);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_cancel_was_requested CHECK ((generation_status <> ALL (ARRAY['cancelling'::text, 'cancelled'::text])) OR cancel_requested_at IS NOT NULL);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_cancelled_says_so CHECK (generation_status <> 'cancelled'::text OR (error_code = ANY (ARRAY['CANCELLED'::text, 'BATCH_CANCELLED'::text])));
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_cancelling_holds_a_lease CHECK (generation_status <> 'cancelling'::text OR lease_expires_at IS NOT NULL AND attempts >= 1);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_completed_has_no_error CHECK (generation_status <> 'completed'::text OR error_code IS NULL AND generation_error IS NULL);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_completed_has_program CHECK (generation_status <> 'completed'::text OR program IS NOT NULL AND completed_at IS NOT NULL);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_dispatch_count_check CHECK (dispatch_count >= 0);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_failed_has_error CHECK (generation_status <> 'failed'::text OR error_code IS NOT NULL);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_generation_status_check CHECK (generation_status = ANY (ARRAY['pending'::text, 'batched'::text, 'processing'::text, 'cancelling'::text, 'completed'::text, 'failed'::text, 'cancelled'::text]));
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_input_tokens_check CHECK (input_tokens >= 0);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_llm_cost_usd_check CHECK (llm_cost_usd >= 0::numeric);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_llm_latency_ms_check CHECK (llm_latency_ms >= 0);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_llm_requests_check CHECK (llm_requests >= 0);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_max_attempts_check CHECK (max_attempts >= 1);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_max_wait_seconds_check CHECK (max_wait_seconds >= 60);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_output_tokens_check CHECK (output_tokens >= 0);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_pkey PRIMARY KEY (id);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_priority_check CHECK (priority >= '-100'::integer AND priority <= 100);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_processing_holds_a_lease CHECK (generation_status <> 'processing'::text OR lease_expires_at IS NOT NULL AND attempts >= 1);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_program_only_when_completed CHECK (program IS NULL OR generation_status = 'completed'::text);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_progress_check CHECK (progress >= 0 AND progress <= 100);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_stage_check CHECK (stage = ANY (ARRAY['queued'::text, 'analyzing'::text, 'generating'::text, 'validating'::text, 'saving'::text]));
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_thinking_tokens_check CHECK (thinking_tokens >= 0);
ALTER TABLE public.training_programs ADD CONSTRAINT training_programs_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.profiles(id) ON DELETE CASCADE;
CREATE INDEX training_programs_batch_idx ON public.training_programs USING btree (batch_id, generation_status) WHERE (batch_id IS NOT NULL);
CREATE INDEX training_programs_claim_order_idx ON public.training_programs USING btree (ranked_at) WHERE (generation_status = 'pending'::text);
CREATE INDEX training_programs_claimed_at_idx ON public.training_programs USING btree (claimed_at) WHERE (claimed_at IS NOT NULL);
CREATE INDEX training_programs_generation_status_idx ON public.training_programs USING btree (generation_status);
CREATE INDEX training_programs_in_flight_idx ON public.training_programs USING btree (generation_status, updated_at) WHERE (generation_status = ANY (ARRAY['pending'::text, 'processing'::text]));
CREATE UNIQUE INDEX training_programs_one_in_flight_per_user ON public.training_programs USING btree (user_id) WHERE (generation_status = ANY (ARRAY['pending'::text, 'batched'::text, 'processing'::text]));
CREATE INDEX training_programs_result_cache_idx ON public.training_programs USING btree (request_fingerprint, completed_at DESC) WHERE ((generation_status = 'completed'::text) AND (request_fingerprint IS NOT NULL));
CREATE INDEX training_programs_user_created_idx ON public.training_programs USING btree (user_id, created_at DESC, id DESC);
CREATE INDEX training_programs_user_id_idx ON public.training_programs USING btree (user_id);
CREATE INDEX training_programs_user_status_idx ON public.training_programs USING btree (user_id, generation_status);
ALTER TABLE public.training_programs ENABLE ROW LEVEL SECURITY;

CREATE OR REPLACE FUNCTION public.active_subscriptions(for_user uuid)
 RETURNS SETOF public.subscriptions
 LANGUAGE sql
 STABLE
AS $function$
        SELECT * FROM subscriptions s
        WHERE s.user_id = for_user
          AND s.status IN ('active', 'trialing')
          AND (s.current_period_end IS NULL OR s.current_period_end > now())
    $function$;

CREATE OR REPLACE FUNCTION public.generation_quota(for_user uuid, default_quota integer)
 RETURNS TABLE(subscribed boolean, under_quota boolean, resets_in integer)
 LANGUAGE sql
 STABLE
AS $function$
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
    $function$;

CREATE OR REPLACE FUNCTION public.generation_tier(for_user uuid, default_max_wait integer)
 RETURNS TABLE(priority smallint, max_wait_seconds integer)
 LANGUAGE sql
 STABLE
AS $function$
        SELECT coalesce(max(t.priority), 0)::smallint,
               coalesce(max(t.max_wait_seconds), default_max_wait)
        FROM active_subscriptions(for_user) s LEFT JOIN subscription_tiers t ON t.tier = s.tier
    $function$;

CREATE OR REPLACE FUNCTION public.request_user_id()
 RETURNS uuid
 LANGUAGE sql
 STABLE
AS $function$ SELECT (nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub')::uuid $function$;

CREATE POLICY generation_batch_chunks_service ON public.generation_batch_chunks AS PERMISSIVE FOR ALL TO tpg_app
    USING (true)
    WITH CHECK (true);
CREATE POLICY generation_batch_members_service ON public.generation_batch_members AS PERMISSIVE FOR ALL TO tpg_app
    USING (true)
    WITH CHECK (true);
CREATE POLICY generation_batches_service ON public.generation_batches AS PERMISSIVE FOR ALL TO tpg_app
    USING (true)
    WITH CHECK (true);
CREATE POLICY generation_requests_own ON public.generation_requests AS PERMISSIVE FOR ALL TO tpg_api_user
    USING ((user_id = ( SELECT public.request_user_id() AS request_user_id)))
    WITH CHECK ((user_id = ( SELECT public.request_user_id() AS request_user_id)));
CREATE POLICY onboarding_responses_own ON public.onboarding_responses AS PERMISSIVE FOR ALL TO tpg_api_user
    USING ((user_id = ( SELECT public.request_user_id() AS request_user_id)));
CREATE POLICY onboarding_responses_service ON public.onboarding_responses AS PERMISSIVE FOR SELECT TO tpg_app
    USING (true);
CREATE POLICY profiles_own ON public.profiles AS PERMISSIVE FOR ALL TO tpg_api_user
    USING ((id = ( SELECT public.request_user_id() AS request_user_id)));
CREATE POLICY profiles_service ON public.profiles AS PERMISSIVE FOR SELECT TO tpg_app
    USING (true);
CREATE POLICY realtime_connections_own ON public.realtime_connections AS PERMISSIVE FOR ALL TO tpg_api_user
    USING ((user_id = ( SELECT public.request_user_id() AS request_user_id)))
    WITH CHECK ((user_id = ( SELECT public.request_user_id() AS request_user_id)));
CREATE POLICY realtime_connections_service ON public.realtime_connections AS PERMISSIVE FOR ALL TO tpg_app
    USING (true)
    WITH CHECK (true);
CREATE POLICY subscriptions_own ON public.subscriptions AS PERMISSIVE FOR ALL TO tpg_api_user
    USING ((user_id = ( SELECT public.request_user_id() AS request_user_id)));
CREATE POLICY subscriptions_service ON public.subscriptions AS PERMISSIVE FOR SELECT TO tpg_app
    USING (true);
CREATE POLICY training_programs_own ON public.training_programs AS PERMISSIVE FOR ALL TO tpg_api_user
    USING ((user_id = ( SELECT public.request_user_id() AS request_user_id)))
    WITH CHECK ((user_id = ( SELECT public.request_user_id() AS request_user_id)));
CREATE POLICY training_programs_service ON public.training_programs AS PERMISSIVE FOR SELECT TO tpg_app
    USING (true);
CREATE POLICY training_programs_service_insert ON public.training_programs AS PERMISSIVE FOR INSERT TO tpg_app
    WITH CHECK ((batch_id IS NOT NULL));
CREATE POLICY training_programs_service_update ON public.training_programs AS PERMISSIVE FOR UPDATE TO tpg_app
    USING (true)
    WITH CHECK (true);

GRANT EXECUTE ON FUNCTION public.active_subscriptions(for_user uuid) TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.active_subscriptions(for_user uuid) TO tpg_app;
GRANT INSERT, SELECT, UPDATE ON TABLE public.generation_batch_chunks TO tpg_app;
GRANT INSERT, SELECT, UPDATE ON TABLE public.generation_batch_members TO tpg_app;
GRANT INSERT, SELECT, UPDATE ON TABLE public.generation_batches TO tpg_app;
GRANT EXECUTE ON FUNCTION public.generation_quota(for_user uuid, default_quota integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.generation_quota(for_user uuid, default_quota integer) TO tpg_app;
GRANT INSERT, SELECT ON TABLE public.generation_requests TO tpg_api_user;
GRANT UPDATE (refunded) ON TABLE public.generation_requests TO tpg_api_user;
GRANT EXECUTE ON FUNCTION public.generation_tier(for_user uuid, default_max_wait integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.generation_tier(for_user uuid, default_max_wait integer) TO tpg_app;
GRANT SELECT ON TABLE public.onboarding_responses TO tpg_api_user;
GRANT SELECT ON TABLE public.onboarding_responses TO tpg_app;
GRANT SELECT ON TABLE public.profiles TO tpg_api_user;
GRANT SELECT ON TABLE public.profiles TO tpg_app;
GRANT INSERT, SELECT ON TABLE public.realtime_connections TO tpg_api_user;
GRANT DELETE, SELECT, UPDATE ON TABLE public.realtime_connections TO tpg_app;
GRANT EXECUTE ON FUNCTION public.request_user_id() TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.request_user_id() TO tpg_app;
GRANT SELECT ON TABLE public.subscription_tiers TO tpg_api_user;
GRANT SELECT ON TABLE public.subscription_tiers TO tpg_app;
GRANT SELECT ON TABLE public.subscriptions TO tpg_api_user;
GRANT SELECT ON TABLE public.subscriptions TO tpg_app;
GRANT INSERT, SELECT, UPDATE ON TABLE public.training_programs TO tpg_api_user;
GRANT INSERT, SELECT, UPDATE ON TABLE public.training_programs TO tpg_app;
