/**
 * The full Amazon SNS message signature check, shared by the SES (events through a configuration set's SNS
 * destination) and SNS (End User Messaging SMS events) webhooks.
 * https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
 * https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message-verify-message-signature.html
 * - SignatureVersion 1 is SHA1withRSA, 2 SHA256withRSA, over `key\nvalue\n` for Message, MessageId, Subject (when
 *   present), Timestamp, TopicArn, Type — confirmations: Message, MessageId, SubscribeURL, Timestamp, Token,
 *   TopicArn, Type.
 * - SigningCertURL only over https from an `sns.<region>.amazonaws.com` host (never trust a certificate from
 *   anywhere else); the fetch validates the TLS chain of that host, which is what vouches for the certificate.
 * - TopicArn must be one the config allows, checked before any certificate is fetched.
 */
import { createPublicKey, type KeyObject, verify, X509Certificate } from 'node:crypto';
import type { PendingSubscription, WebhookContext, WebhookRequest, WebhookVerdict } from 'messagepipe';
import { isRecord, parseJson, unauthorized, unreadable } from './webhook';

/** An SNS HTTP(S) message, as SNS posts it. */
export interface SnsEnvelope {
  Type: 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  SubscribeURL?: string;
  Token?: string;
}

const SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;
const CERT_TTL_MS = 24 * 60 * 60 * 1000;
const TYPES = new Set(['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation']);

/** True for `https://sns.<region>.amazonaws.com/…` (or `.amazonaws.com.cn`), nothing else. */
export function isSnsUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (
      url.protocol === 'https:' && SNS_HOST.test(url.hostname) && !url.username && !url.password && !url.port
    );
  } catch {
    return false;
  }
}

/** The text SNS signs for a message (see the module comment). */
export function snsStringToSign(message: SnsEnvelope): string {
  const keys =
    message.Type === 'Notification'
      ? (['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] as const)
      : (['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'] as const);
  let signed = '';
  for (const key of keys) {
    const value = message[key];
    if (value === undefined) continue;
    signed += `${key}\n${value}\n`;
  }
  return signed;
}

async function signingKey(url: string, ctx: WebhookContext<unknown>): Promise<KeyObject> {
  const cacheKey = `sns:cert:${url}`;
  const cached = ctx.cache.get<KeyObject>(cacheKey);
  if (cached) return cached;
  const response = await ctx.fetch(url, { redirect: 'error', signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`Fetching the SNS signing certificate answered HTTP ${response.status}`);
  const pem = await response.text();
  const certificate = new X509Certificate(pem);
  const now = ctx.now();
  // Clocks differ: the same allowance as for signed timestamps.
  const skew = ctx.toleranceMs;
  if (now + skew < Date.parse(certificate.validFrom) || now - skew > Date.parse(certificate.validTo)) {
    throw new Error('The SNS signing certificate is not valid now');
  }
  const key = createPublicKey(certificate.publicKey.export({ format: 'pem', type: 'spki' }));
  ctx.cache.set(cacheKey, key, CERT_TTL_MS);
  return key;
}

/** Verifies an SNS message end to end; resolves the envelope, and a pending subscription for confirmations. */
export async function verifySnsRequest(
  request: WebhookRequest,
  ctx: WebhookContext<{ webhookTopicArns?: string[] | undefined }>,
): Promise<WebhookVerdict> {
  const allowedTopics = ctx.config.webhookTopicArns;
  if (!allowedTopics || allowedTopics.length === 0) {
    return unauthorized('No webhookTopicArns in the provider config');
  }
  // The signature covers fields of the JSON document: reading them is part of verifying.
  const body = parseJson(request.rawBody);
  if (!isRecord(body)) return unreadable('Expected an SNS JSON message');
  const fields = [
    'Type',
    'MessageId',
    'TopicArn',
    'Message',
    'Timestamp',
    'SignatureVersion',
    'Signature',
    'SigningCertURL',
  ];
  for (const field of fields)
    if (typeof body[field] !== 'string') return unauthorized(`SNS field ${field} missing`);
  const message = body as unknown as SnsEnvelope;
  if (!TYPES.has(message.Type)) return unauthorized('Unknown SNS message type');
  for (const field of ['Subject', 'SubscribeURL', 'Token'] as const) {
    if (body[field] !== undefined && typeof body[field] !== 'string')
      return unauthorized(`SNS field ${field} malformed`);
  }
  const algorithm =
    message.SignatureVersion === '1' ? 'sha1' : message.SignatureVersion === '2' ? 'sha256' : undefined;
  if (!algorithm) return unauthorized('Unsupported SignatureVersion');
  if (!isSnsUrl(message.SigningCertURL) || !new URL(message.SigningCertURL).pathname.endsWith('.pem')) {
    return unauthorized('SigningCertURL is not an https sns.<region>.amazonaws.com certificate');
  }
  if (!allowedTopics.includes(message.TopicArn)) return unauthorized('TopicArn not allowed');
  const headerTopic = request.headers.get('x-amz-sns-topic-arn');
  if (headerTopic && headerTopic !== message.TopicArn)
    return unauthorized('TopicArn header and body disagree');
  if (message.Type !== 'Notification' && (!message.SubscribeURL || !message.Token)) {
    return unauthorized('Confirmation without SubscribeURL or Token');
  }

  let key: KeyObject;
  try {
    key = await signingKey(message.SigningCertURL, ctx);
  } catch (error) {
    ctx.logger.warn('The SNS signing certificate could not be used', {
      error: error instanceof Error ? error.message : String(error),
    });
    return unauthorized('Signing certificate unavailable');
  }
  const valid = verify(
    algorithm,
    Buffer.from(snsStringToSign(message), 'utf8'),
    key,
    Buffer.from(message.Signature, 'base64'),
  );
  if (!valid) return unauthorized('Signature does not match');

  if (message.Type === 'SubscriptionConfirmation') {
    const subscribeUrl = message.SubscribeURL!;
    // Calling a URL a message names is only safe for SNS's own hosts.
    if (!isSnsUrl(subscribeUrl))
      return unauthorized('SubscribeURL is not an https sns.<region>.amazonaws.com URL');
    const subscription: PendingSubscription = {
      topicArn: message.TopicArn,
      subscribeUrl,
      async confirm() {
        const response = await ctx.fetch(subscribeUrl, {
          redirect: 'error',
          signal: AbortSignal.timeout(10_000),
        });
        if (!response.ok) throw new Error(`Confirming the subscription answered HTTP ${response.status}`);
        await response.arrayBuffer();
      },
    };
    return { ok: true, payload: message, subscription };
  }
  return { ok: true, payload: message };
}

/** The JSON inside a Notification's `Message`, or `undefined` (confirmations, plain-text test messages). */
export function notificationBody(payload: unknown): Record<string, unknown> | undefined {
  const message = payload as SnsEnvelope;
  if (message.Type !== 'Notification') return undefined;
  try {
    const inner: unknown = JSON.parse(message.Message);
    return isRecord(inner) ? inner : undefined;
  } catch {
    return undefined;
  }
}
