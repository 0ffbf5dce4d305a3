-- Consecutive failures of a job's handler (it threw), reset when an attempt succeeds. Distinct
-- from `attempts`, which counts every claim (a poll chain's job is claimed for ever).
ALTER TABLE jobs ADD COLUMN failures integer NOT NULL DEFAULT 0;

-- Jobs whose handler failed MAX_JOB_ATTEMPTS times in a row (src/scheduler/retry.ts), moved out of
-- `jobs` so that no worker retries them for ever. Kept for an operator: the error, the payload,
-- and when. docs/operations.md shows how to requeue them after fixing the cause.
CREATE TABLE dead_jobs (
  id          text PRIMARY KEY,
  kind        text NOT NULL,
  payload     jsonb NOT NULL,
  failures    integer NOT NULL,
  last_error  text,
  created_at  timestamptz NOT NULL,
  died_at     timestamptz NOT NULL
);

-- An account's queued replies in the order they were queued: a reply about to be sent checks that
-- no older one of the same channel is still waiting (src/scheduler/sendResponse.ts).
CREATE INDEX scheduled_responses_account_queue ON scheduled_responses (account_id, channel, created_at, id) WHERE status = 'queued';
