-- Outbound scheduler: scheduled responses, their idempotency records, a durable job queue,
-- per-account pacing, and the sandbox connector's record of what "LinkedIn" received.

-- Pacing overrides per account (JSON, see src/scheduler/pacing.ts for the defaults), the account's
-- time zone for daily caps and working hours, and the earliest instant its next send may start.
ALTER TABLE connected_accounts ADD COLUMN pacing jsonb NOT NULL DEFAULT '{}';
ALTER TABLE connected_accounts ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
ALTER TABLE connected_accounts ADD COLUMN next_send_at timestamptz;

CREATE TABLE scheduled_responses (
  id                    text PRIMARY KEY,
  account_group_id      text NOT NULL REFERENCES account_groups(id),
  prospect_id           text NOT NULL REFERENCES prospects(id),
  account_id            text NOT NULL REFERENCES connected_accounts(id),
  conversation_id       text REFERENCES conversations(id),
  recipient_provider_id text NOT NULL,
  parent_message_id     text,
  channel               text NOT NULL CHECK (channel IN ('direct_message', 'inmail')),
  subject               text,
  message               text NOT NULL,
  status                text NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
  scheduled_for         timestamptz NOT NULL,
  attempts              integer NOT NULL DEFAULT 0,
  sent_at               timestamptz,
  sent_message_id       text,
  failure_code          text,
  failure_message       text,
  created_at            timestamptz NOT NULL,
  updated_at            timestamptz NOT NULL
);
CREATE INDEX scheduled_responses_page ON scheduled_responses (account_group_id, created_at DESC, id DESC);
CREATE INDEX scheduled_responses_status_page ON scheduled_responses (account_group_id, status, created_at DESC, id DESC);
-- Daily caps count what each account sent (or is sending) since the start of its local day.
-- Queue depth (metrics) counts only open responses; the index holds just those.
CREATE INDEX scheduled_responses_open ON scheduled_responses (status) WHERE status IN ('queued', 'sending');
CREATE INDEX scheduled_responses_account_sends ON scheduled_responses (account_id, channel, sent_at) WHERE status IN ('sent', 'sending');

CREATE TABLE idempotency_keys (
  account_group_id text NOT NULL,
  key              text NOT NULL,
  operation        text NOT NULL,
  fingerprint      text NOT NULL,
  status           text NOT NULL CHECK (status IN ('in_progress', 'completed')),
  -- An in-progress record older than this was abandoned by a crashed request; a retry may take over.
  locked_until     timestamptz NOT NULL,
  response_status  integer,
  response_body    text,
  created_at       timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  PRIMARY KEY (account_group_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- Pending work only: a job row is deleted when its work is done. `available_at` is when a worker
-- may take it: its due time while waiting, the end of its lease while running. One ordered column
-- keeps the claim a single index range scan however long the queue grows.
CREATE TABLE jobs (
  id            text PRIMARY KEY,
  kind          text NOT NULL,
  payload       jsonb NOT NULL,
  available_at  timestamptz NOT NULL,
  attempts      integer NOT NULL DEFAULT 0,
  locked_by     text,
  last_error    text,
  created_at    timestamptz NOT NULL
);
CREATE INDEX jobs_available ON jobs (available_at, id);

-- The sandbox connector's stand-in for LinkedIn's side: every send call that "reached LinkedIn".
-- Deliberately not unique on dedupe_id, so a double send is visible to tests.
CREATE TABLE sandbox_sends (
  id                      text PRIMARY KEY,
  account_id              text NOT NULL,
  dedupe_id               text NOT NULL,
  channel                 text NOT NULL,
  conversation_provider_id text NOT NULL,
  recipient_provider_id   text NOT NULL,
  subject                 text,
  text                    text NOT NULL,
  provider_message_id     text NOT NULL,
  sent_at                 timestamptz NOT NULL
);
CREATE INDEX sandbox_sends_dedupe ON sandbox_sends (account_id, dedupe_id);
