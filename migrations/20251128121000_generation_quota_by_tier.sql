-- API4 (unrestricted resource consumption): a per-user quota of new generations per rolling
-- 24 hours, set per subscription tier here so operators can change it without a deploy.
CREATE TABLE subscription_tiers (
    tier                    text PRIMARY KEY,
    daily_generation_quota  integer NOT NULL CHECK (daily_generation_quota >= 0)
);
INSERT INTO subscription_tiers (tier, daily_generation_quota) VALUES ('standard', 5), ('premium', 20);
-- Counting a user's generations of the last 24 h uses training_programs_user_created_idx.

