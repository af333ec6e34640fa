import type {
  Channel,
  DeliveryEvent,
  MessageLogStore,
  SentMessageQuery,
  SentMessageRecord,
  SuppressionPage,
  SuppressionRecord,
} from 'messagepipe';
import type { PgQueryable, PgResult } from './connection';

/** Timestamps come back as ISO text whatever type parsers the app's `pg` has. */
const iso = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${column}`;

const MESSAGE_COLUMNS = [
  'project_id',
  'provider',
  'correlation_id',
  'message_id',
  'idempotency_key',
  'channel',
  'provider_config_id',
  'to_jsonb(recipients) AS recipients',
  'to_jsonb(suppressed) AS suppressed',
  'to_jsonb(suppression_ignored) AS suppression_ignored',
  iso('sent_at'),
].join(', ');

const SUPPRESSION_COLUMNS = `project_id, channel, recipient, reason, source, details, ${iso('created_at')}`;

interface MessageRow {
  project_id: string;
  provider: string;
  correlation_id: string;
  message_id: string;
  idempotency_key: string;
  channel: Channel;
  provider_config_id: string;
  recipients: unknown;
  suppressed: unknown;
  suppression_ignored: unknown;
  sent_at: string;
}

interface SuppressionRow {
  project_id: string;
  channel: Channel;
  recipient: string;
  reason: string;
  source: 'manual' | 'event';
  details: unknown;
  created_at: string;
}

/** Entry fields kept in `details`. */
const DETAIL_FIELDS = ['eventType', 'provider', 'providerConfigId', 'messageId', 'detail'] as const;

/**
 * The {@link MessageLogStore} capability on PostgreSQL (tables of migration `0002_delivery`). The
 * `PostgresProviderStore` implements it through this class; use it directly to keep the message log in PostgreSQL
 * next to another provider store (`new Dispatcher({ messageLog })`).
 */
export class PostgresMessageLog implements MessageLogStore {
  /** Outside the process: the send path keeps a copy of each project's suppression list. */
  readonly persistent = true;
  readonly #query: (text: string, values: unknown[]) => Promise<PgResult>;

  constructor(db: PgQueryable | ((text: string, values: unknown[]) => Promise<PgResult>)) {
    this.#query = typeof db === 'function' ? db : (text, values) => db.query(text, values);
  }

  async recordSend(record: SentMessageRecord): Promise<void> {
    await this.#query(
      `INSERT INTO messagepipe_messages (project_id, provider, correlation_id, message_id, idempotency_key, channel,
         provider_config_id, recipients, suppressed, suppression_ignored, sent_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (project_id, provider, correlation_id) DO NOTHING`,
      [
        record.projectId,
        record.provider,
        record.correlationId,
        record.messageId,
        record.idempotencyKey,
        record.channel,
        record.providerConfigId,
        record.recipients,
        record.suppressed ?? null,
        record.suppressionIgnored ?? null,
        record.sentAt,
      ],
    );
  }

  async findSend(projectId: string, query: SentMessageQuery): Promise<SentMessageRecord | undefined> {
    const result =
      'idempotencyKey' in query
        ? await this.#query(
            `SELECT ${MESSAGE_COLUMNS} FROM messagepipe_messages WHERE project_id = $1 AND idempotency_key = $2
             ORDER BY sent_at DESC LIMIT 1`,
            [projectId, query.idempotencyKey],
          )
        : query.provider === undefined
          ? await this.#query(
              `SELECT ${MESSAGE_COLUMNS} FROM messagepipe_messages WHERE project_id = $1 AND correlation_id = $2
               ORDER BY sent_at, provider LIMIT 1`,
              [projectId, query.correlationId],
            )
          : await this.#query(
              `SELECT ${MESSAGE_COLUMNS} FROM messagepipe_messages
               WHERE project_id = $1 AND provider = $2 AND correlation_id = $3`,
              [projectId, query.provider, query.correlationId],
            );
    const row = result.rows[0] as MessageRow | undefined;
    return row && toSend(row);
  }

  async recordEvent(event: DeliveryEvent): Promise<boolean> {
    const result = await this.#query(
      `INSERT INTO messagepipe_delivery_events (project_id, id, correlation_id, at, received_at, event)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (project_id, id) DO NOTHING`,
      [event.projectId, event.id, event.messageId, event.at, event.receivedAt, JSON.stringify(event)],
    );
    return result.rowCount === 1;
  }

  async listEvents(projectId: string, correlationId: string): Promise<DeliveryEvent[]> {
    const result = await this.#query(
      `SELECT event FROM messagepipe_delivery_events WHERE project_id = $1 AND correlation_id = $2
       ORDER BY at, received_at, id`,
      [projectId, correlationId],
    );
    return (result.rows as Array<{ event: unknown }>).map((row) => json(row.event) as DeliveryEvent);
  }

  async putSuppression(record: SuppressionRecord): Promise<void> {
    const details = Object.fromEntries(
      DETAIL_FIELDS.filter((field) => record[field] !== undefined).map((field) => [field, record[field]]),
    );
    await this.#query(
      `INSERT INTO messagepipe_suppressions (project_id, channel, recipient, reason, source, details, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (project_id, channel, recipient) DO UPDATE SET reason = EXCLUDED.reason,
         source = EXCLUDED.source, details = EXCLUDED.details, created_at = EXCLUDED.created_at`,
      [
        record.projectId,
        record.channel,
        record.recipient,
        record.reason,
        record.source,
        JSON.stringify(details),
        record.createdAt,
      ],
    );
  }

  async deleteSuppression(projectId: string, channel: Channel, recipient: string): Promise<boolean> {
    const result = await this.#query(
      'DELETE FROM messagepipe_suppressions WHERE project_id = $1 AND channel = $2 AND recipient = $3',
      [projectId, channel, recipient],
    );
    return result.rowCount === 1;
  }

  async findSuppressions(
    projectId: string,
    channel: Channel,
    recipients: readonly string[],
  ): Promise<SuppressionRecord[]> {
    if (recipients.length === 0) return [];
    const result = await this.#query(
      `SELECT ${SUPPRESSION_COLUMNS} FROM messagepipe_suppressions
       WHERE project_id = $1 AND channel = $2 AND recipient = ANY($3::text[]) ORDER BY recipient`,
      [projectId, channel, [...new Set(recipients)]],
    );
    return (result.rows as SuppressionRow[]).map(toSuppression);
  }

  async listSuppressions(projectId: string, page: SuppressionPage): Promise<SuppressionRecord[]> {
    const conditions = ['project_id = $1'];
    const values: unknown[] = [projectId];
    if (page.channel) {
      values.push(page.channel);
      conditions.push(`channel = $${values.length}`);
    }
    if (page.after) {
      values.push(page.after.channel, page.after.recipient);
      conditions.push(`(channel, recipient) > ($${values.length - 1}, $${values.length})`);
    }
    values.push(Math.max(0, Math.floor(page.limit)));
    const result = await this.#query(
      `SELECT ${SUPPRESSION_COLUMNS} FROM messagepipe_suppressions WHERE ${conditions.join(' AND ')}
       ORDER BY channel, recipient LIMIT $${values.length}`,
      values,
    );
    return (result.rows as SuppressionRow[]).map(toSuppression);
  }

  async suppressedRecipients(projectId: string, channel: Channel, limit: number): Promise<string[]> {
    const result = await this.#query(
      `SELECT recipient FROM messagepipe_suppressions WHERE project_id = $1 AND channel = $2 LIMIT $3`,
      [projectId, channel, Math.max(0, Math.floor(limit))],
    );
    return (result.rows as Array<{ recipient: string }>).map((row) => row.recipient);
  }
}

function toSend(row: MessageRow): SentMessageRecord {
  const record: SentMessageRecord = {
    projectId: row.project_id,
    channel: row.channel,
    providerConfigId: row.provider_config_id,
    provider: row.provider,
    messageId: row.message_id,
    correlationId: row.correlation_id,
    idempotencyKey: row.idempotency_key,
    recipients: (json(row.recipients) as string[] | null) ?? [],
    sentAt: row.sent_at,
  };
  const suppressed = json(row.suppressed) as string[] | null;
  if (suppressed) record.suppressed = suppressed;
  const ignored = json(row.suppression_ignored) as string[] | null;
  if (ignored) record.suppressionIgnored = ignored;
  return record;
}

function toSuppression(row: SuppressionRow): SuppressionRecord {
  return {
    ...(json(row.details) as Partial<SuppressionRecord>),
    projectId: row.project_id,
    channel: row.channel,
    recipient: row.recipient,
    reason: row.reason,
    source: row.source,
    createdAt: row.created_at,
  };
}

/** JSONB arrives parsed with `pg`'s default type parsers, or as text where an app changed them. */
function json(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : value;
}
