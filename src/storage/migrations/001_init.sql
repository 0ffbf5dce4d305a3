-- Message history: account groups, connected LinkedIn accounts, conversations, messages,
-- persons and prospects, API keys.

CREATE TABLE settings (
  name  text PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE account_groups (
  id         text PRIMARY KEY,
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id                text PRIMARY KEY,
  name              text NOT NULL DEFAULT '',
  display_prefix    text NOT NULL,
  key_hash          text NOT NULL UNIQUE,
  permissions       text[] NOT NULL,
  account_group_ids text[] NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  revoked_at        timestamptz
);

CREATE TABLE connected_accounts (
  id                  text PRIMARY KEY,
  account_group_id    text NOT NULL REFERENCES account_groups(id),
  account_type        text NOT NULL,
  provider_account_id text NOT NULL,
  name                text NOT NULL DEFAULT '',
  connector           text NOT NULL DEFAULT 'sandbox',
  status              text NOT NULL DEFAULT 'connected',
  -- Connector-specific settings (credentials for a vendor API); never returned or logged.
  settings            jsonb NOT NULL DEFAULT '{}',
  created_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account_group_id, provider_account_id)
);

CREATE TABLE persons (
  id                text PRIMARY KEY,
  account_group_id  text NOT NULL REFERENCES account_groups(id),
  provider_id       text NOT NULL,
  public_identifier text,
  linkedin_url      text,
  name              text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account_group_id, provider_id)
);

CREATE TABLE prospects (
  id                text PRIMARY KEY,
  account_group_id  text NOT NULL REFERENCES account_groups(id),
  person_id         text REFERENCES persons(id),
  provider_id       text NOT NULL,
  public_identifier text,
  linkedin_url      text,
  name              text,
  company_name      text,
  title             text,
  -- The identifier an import gave this prospect, so re-running the import changes nothing.
  external_id       text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account_group_id, external_id)
);
CREATE INDEX prospects_by_provider_id ON prospects (account_group_id, provider_id);

CREATE TABLE conversations (
  id                      text PRIMARY KEY,
  account_group_id        text NOT NULL REFERENCES account_groups(id),
  account_id              text NOT NULL REFERENCES connected_accounts(id),
  provider_id             text NOT NULL,
  name                    text,
  participant_provider_id text,
  unread_count            integer NOT NULL DEFAULT 0,
  last_message_at         timestamptz,
  created_at              timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account_id, provider_id)
);
CREATE INDEX conversations_by_participant ON conversations (account_group_id, participant_provider_id, last_message_at DESC);

CREATE TABLE messages (
  id                  text PRIMARY KEY,
  account_group_id    text NOT NULL REFERENCES account_groups(id),
  account_id          text NOT NULL REFERENCES connected_accounts(id),
  conversation_id     text NOT NULL REFERENCES conversations(id),
  provider_message_id text NOT NULL,
  sender_provider_id  text,
  is_sender           boolean NOT NULL,
  text                text NOT NULL DEFAULT '',
  -- Millisecond precision is what the API shows and what a cursor carries; finer precision would
  -- let two rows the cursor cannot tell apart straddle a page boundary.
  sent_at             timestamptz NOT NULL CHECK (sent_at = date_trunc('milliseconds', sent_at)),
  parent_message_id   text,
  attachments         jsonb NOT NULL DEFAULT '[]',
  created_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account_id, provider_message_id)
);
-- Keyset pages, newest first, for a whole group and for one conversation.
CREATE INDEX messages_group_page ON messages (account_group_id, sent_at DESC, id DESC);
CREATE INDEX messages_conversation_page ON messages (conversation_id, sent_at DESC, id DESC);
