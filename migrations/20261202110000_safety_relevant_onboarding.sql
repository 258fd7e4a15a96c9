-- Safety-relevant onboarding answers the rules engine and the validator read (docs/training-science.md).
-- All optional: a row without them reads as before. `injury_details` holds injuries with a side,
-- severity and status ({"site", "side", "severity", "status"}); `injuries` keeps the plain sites.
ALTER TABLE onboarding_responses
    ADD COLUMN injury_details    jsonb   NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(injury_details) = 'array'),
    ADD COLUMN conditions        text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN medical_clearance boolean NOT NULL DEFAULT false,
    ADD COLUMN pregnancy_weeks   integer CHECK (pregnancy_weeks BETWEEN 1 AND 42),
    ADD COLUMN postpartum_weeks  integer CHECK (postpartum_weeks BETWEEN 0 AND 104),
    ADD COLUMN refused_exercises text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN max_dumbbell_kg   numeric(5, 1) CHECK (max_dumbbell_kg > 0 AND max_dumbbell_kg <= 100),
    ADD COLUMN event_date        date,
    ADD CONSTRAINT onboarding_pregnant_or_postpartum
        CHECK (pregnancy_weeks IS NULL OR postpartum_weeks IS NULL);
