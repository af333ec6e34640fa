-- messagepipe 0002: the message log (sends and their delivery events) and the suppression list.
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
