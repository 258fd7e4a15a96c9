-- Base schema: the tables the app already had before background generation.
-- profiles.id is the user id (the JWT `sub`).

CREATE TABLE profiles (
    id          uuid PRIMARY KEY,
    display_name text,
    birth_year  integer CHECK (birth_year BETWEEN 1900 AND 2100),
    sex         text CHECK (sex IN ('male', 'female')),
    height_cm   numeric(5, 1) CHECK (height_cm > 0),
    weight_kg   numeric(5, 1) CHECK (weight_kg > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One onboarding per user; completed_at marks it complete (NULL = still in progress).
CREATE TABLE onboarding_responses (
    user_id          uuid PRIMARY KEY REFERENCES profiles (id) ON DELETE CASCADE,
    goal             text CHECK (goal IN ('strength', 'hypertrophy', 'fat_loss', 'general_fitness')),
    experience       text CHECK (experience IN ('novice', 'intermediate', 'advanced')),
    training_months  integer NOT NULL DEFAULT 0 CHECK (training_months >= 0),
    days_per_week    integer CHECK (days_per_week BETWEEN 1 AND 7),
    session_minutes  integer CHECK (session_minutes BETWEEN 10 AND 240),
    equipment        text[] NOT NULL DEFAULT '{}',
    injuries         text[] NOT NULL DEFAULT '{}',
    lifts            jsonb NOT NULL DEFAULT '[]',
    notes            text,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    status              text NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
    tier                text NOT NULL DEFAULT 'standard',
    current_period_end  timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_user_id_idx ON subscriptions (user_id);

CREATE TABLE training_programs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    name        text NOT NULL,
    program     jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX training_programs_user_id_idx ON training_programs (user_id);
