import { randomUUID } from 'node:crypto';
import {
  emailMessageSchema,
  idempotencyKeySchema,
  MessagePipeError,
  type SendInput,
  smsMessageSchema,
  type ValidationIssue,
} from 'messagepipe';
import type { SendJobData } from './types';

const MAX_PROJECT_ID = 200;

/**
 * Validates a send the way the dispatcher will (`MESSAGE_INVALID` with field paths), so a bad message is refused
 * before it reaches Redis, and turns it into a job payload: attachment bytes become base64 strings, which the
 * dispatcher's schema accepts as they are. What needs the provider store (the sender, `CHANNEL_DISABLED`) can only
 * be checked by the worker.
 */
export function toJobData(input: SendInput): SendJobData {
  if (typeof input !== 'object' || input === null) {
    throw invalid([{ path: [], message: 'Expected a message object' }]);
  }
  const { projectId, channel, ...fields } = input as SendInput & Record<string, unknown>;
  const issues: ValidationIssue[] = [];
  if (typeof projectId !== 'string' || projectId.length === 0 || projectId.length > MAX_PROJECT_ID) {
    issues.push({ path: ['projectId'], message: `Expected a string of 1 to ${MAX_PROJECT_ID} characters` });
  }
  if (channel !== 'email' && channel !== 'sms') {
    issues.push({ path: ['channel'], message: 'Expected "email" or "sms"' });
  } else {
    const parsed = (channel === 'email' ? emailMessageSchema : smsMessageSchema).safeParse(fields);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        issues.push({
          path: issue.path.map((part) => (typeof part === 'number' ? part : String(part))),
          message: issue.message,
        });
      }
    }
  }
  if (issues.length > 0) throw invalid(issues);
  if (input.channel === 'email' && input.attachments) {
    return {
      version: 1,
      input: {
        ...input,
        attachments: input.attachments.map((attachment) =>
          typeof attachment.content === 'string'
            ? attachment
            : { ...attachment, content: toBase64(attachment.content), encoding: 'base64' as const },
        ),
      },
    };
  }
  return { version: 1, input: { ...input } };
}

/**
 * The idempotency key to use: the one given, checked with the dispatcher's rule (`idempotencyKeySchema`) and
 * BullMQ's job id rules, or a new one.
 */
export function idempotencyKeyOf(given: string | undefined): string {
  if (given === undefined) return randomUUID();
  const shared = idempotencyKeySchema.safeParse(given);
  const problem = !shared.success
    ? (shared.error.issues[0]?.message ?? 'Invalid idempotency key')
    : given.includes(':')
      ? 'Must not contain ":" (it separates parts of Redis keys)'
      : /^\d+$/.test(given)
        ? 'Must not be only digits (BullMQ reserves those for its own ids)'
        : undefined;
  if (problem) throw invalid([{ path: ['idempotencyKey'], message: problem }]);
  return given;
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function invalid(issues: ValidationIssue[]): MessagePipeError {
  const summary = issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
  return new MessagePipeError('MESSAGE_INVALID', `Invalid message: ${summary}`, { issues });
}
