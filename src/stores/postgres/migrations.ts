/** One schema migration: an id, recorded once applied, and the SQL that applies it. */
export interface PostgresMigration {
  id: string;
  sql: string;
}

/**
 * The schema migrations of the PostgreSQL store, in order. Each one's SQL is the text of the file of the same name
 * in `migrations/` (shipped in the package as `dist/stores/postgres/migrations/*.sql`, for migration tools); a
 * test keeps the two identical.
 */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    id: '0001_init',
    sql: `-- messagepipe 0001: provider records and sender configurations.
-- Applied by migrate() from 'messagepipe/stores/postgres', or by hand / by your own migration tool.
-- Tables live in the connection's search_path (usually "public").

CREATE TABLE IF NOT EXISTS messagepipe_providers (
  project_id text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  channel text NOT NULL CHECK (channel IN ('email', 'sms')),
  provider text NOT NULL,
  name text NOT NULL,
  enabled boolean NOT NULL,
  priority integer NOT NULL,
  credential_status text NOT NULL CHECK (credential_status IN ('unchecked', 'valid', 'invalid')),
  credential_checked_at timestamptz,
  credential_reason text,
  secret_fields text[] NOT NULL DEFAULT '{}',
  config jsonb NOT NULL DEFAULT '{}',
  secrets text NOT NULL,
  extra jsonb NOT NULL DEFAULT '{}',
  version integer NOT NULL CHECK (version >= 1),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (project_id, id)
);

COMMENT ON COLUMN messagepipe_providers.config IS 'Non-secret config fields only.';
COMMENT ON COLUMN messagepipe_providers.secrets IS
  'Secret config fields: sealed:v1:<keyId>:… (AES-256-GCM) when the dispatcher has keys, else plain:<json>.';
COMMENT ON COLUMN messagepipe_providers.extra IS 'Record fields this schema has no column for yet.';
COMMENT ON COLUMN messagepipe_providers.version IS 'Incremented on every write; updates check it (optimistic concurrency).';

-- The send path: a project's providers in failover order, all channels or one.
CREATE INDEX IF NOT EXISTS messagepipe_providers_order_idx
  ON messagepipe_providers (project_id, priority, created_at, id);
CREATE INDEX IF NOT EXISTS messagepipe_providers_channel_order_idx
  ON messagepipe_providers (project_id, channel, priority, created_at, id);

CREATE TABLE IF NOT EXISTS messagepipe_senders (
  project_id text COLLATE "C" NOT NULL,
  channel text NOT NULL CHECK (channel IN ('email', 'sms')),
  enabled boolean NOT NULL,
  settings jsonb NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (project_id, channel)
);

COMMENT ON COLUMN messagepipe_senders.settings IS
  'The channel''s sender fields: senderEmail and senderName, or senderId and from.';
`,
  },
  {
    id: '0002_delivery',
    sql: `-- messagepipe 0002: the message log (sends and their delivery events) and the suppression list.
-- Applied by migrate() from 'messagepipe/stores/postgres', or by hand / by your own migration tool.

-- Webhook URLs name a provider config by id alone.
CREATE INDEX IF NOT EXISTS messagepipe_providers_id_idx ON messagepipe_providers (id);

CREATE TABLE IF NOT EXISTS messagepipe_messages (
  project_id text COLLATE "C" NOT NULL,
  provider text NOT NULL,
  correlation_id text COLLATE "C" NOT NULL,
  message_id text NOT NULL,
  idempotency_key text COLLATE "C" NOT NULL,
  channel text NOT NULL CHECK (channel IN ('email', 'sms')),
  provider_config_id text NOT NULL,
  recipients text[] NOT NULL DEFAULT '{}',
  suppressed text[],
  suppression_ignored text[],
  sent_at timestamptz NOT NULL,
  PRIMARY KEY (project_id, provider, correlation_id)
);

COMMENT ON COLUMN messagepipe_messages.correlation_id IS
  'The provider message id as its delivery events name it (Mailgun without <>).';
COMMENT ON COLUMN messagepipe_messages.suppression_ignored IS
  'Suppressed recipients sent to anyway (ignoreSuppression: true).';

CREATE INDEX IF NOT EXISTS messagepipe_messages_idempotency_idx
  ON messagepipe_messages (project_id, idempotency_key, sent_at);
CREATE INDEX IF NOT EXISTS messagepipe_messages_correlation_idx
  ON messagepipe_messages (project_id, correlation_id);

CREATE TABLE IF NOT EXISTS messagepipe_delivery_events (
  project_id text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  correlation_id text COLLATE "C" NOT NULL,
  at timestamptz NOT NULL,
  received_at timestamptz NOT NULL,
  event jsonb NOT NULL,
  PRIMARY KEY (project_id, id)
);

COMMENT ON COLUMN messagepipe_delivery_events.id IS
  'Content key of the event: a duplicate sent again by the provider has the same one.';

CREATE INDEX IF NOT EXISTS messagepipe_delivery_events_message_idx
  ON messagepipe_delivery_events (project_id, correlation_id, at, received_at, id);

CREATE TABLE IF NOT EXISTS messagepipe_suppressions (
  project_id text COLLATE "C" NOT NULL,
  channel text NOT NULL CHECK (channel IN ('email', 'sms')),
  recipient text COLLATE "C" NOT NULL,
  reason text NOT NULL,
  source text NOT NULL CHECK (source IN ('manual', 'event')),
  details jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL,
  PRIMARY KEY (project_id, channel, recipient)
);

COMMENT ON COLUMN messagepipe_suppressions.recipient IS
  'Normalised: email addresses in lower case, phone numbers in E.164.';
COMMENT ON COLUMN messagepipe_suppressions.details IS
  'Where the entry came from: eventType, provider, providerConfigId, messageId, detail.';
`,
  },
];
