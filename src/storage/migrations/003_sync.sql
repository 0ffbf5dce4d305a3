-- Sync: per-account backfill and polling progress, per-conversation history progress (for
-- read-through), and what messages need to follow edits, deletions and threads from LinkedIn.

-- Whether every older message of the conversation is stored. Rows made outside sync (a thread our
-- InMail opened, imports, tests) hold their whole history by construction; sync inserts `false`
-- and flips it when its walk reaches the first message. `history_cursor` is where that walk (or a
-- read-through) stopped: the connector cursor of the next older page.
ALTER TABLE conversations ADD COLUMN history_complete boolean NOT NULL DEFAULT true;
ALTER TABLE conversations ADD COLUMN history_cursor text;

-- The provider's id of the message this one replies to, kept until that message is stored and
-- `parent_message_id` can point at it. `provider_version` is the instant of the provider state the
-- row shows (fetch time or event time): an older event never overwrites a newer state.
ALTER TABLE messages ADD COLUMN parent_provider_message_id text;
ALTER TABLE messages ADD COLUMN edited_at timestamptz;
ALTER TABLE messages ADD COLUMN deleted_at timestamptz;
ALTER TABLE messages ADD COLUMN provider_version timestamptz;
CREATE INDEX messages_unresolved_parent ON messages (conversation_id) WHERE parent_message_id IS NULL AND parent_provider_message_id IS NOT NULL;

CREATE TABLE sync_states (
  account_id            text PRIMARY KEY REFERENCES connected_accounts(id),
  account_group_id      text NOT NULL REFERENCES account_groups(id),
  backfill_status       text NOT NULL CHECK (backfill_status IN ('pending', 'running', 'completed', 'failed')),
  -- Connector cursor of the conversations page the backfill is working through (null: the first).
  backfill_cursor       text,
  -- Set by a restart: walk complete conversations again too (until the walk completes).
  rewalk                boolean NOT NULL DEFAULT false,
  backfill_started_at   timestamptz,
  backfill_completed_at timestamptz,
  conversations_synced  integer NOT NULL DEFAULT 0,
  messages_synced       bigint NOT NULL DEFAULT 0,
  -- One backfill at a time per account: a run holds the lease while it works and renews it.
  lease_owner           text,
  lease_until           timestamptz,
  -- Incremental sync has seen everything active before this instant (polling resumes from it).
  polled_until          timestamptz,
  last_event_at         timestamptz,
  last_error            text,
  updated_at            timestamptz NOT NULL
);
