/**
 * Twilio status callbacks (and inbound-message webhooks, which report STOP opt-outs). `X-Twilio-Signature` is the
 * base64 HMAC-SHA1, keyed with the auth token, of the exact public URL followed by every POST parameter as
 * `key + value`, sorted by key; a JSON body is instead covered by a `bodySHA256` query parameter (hex SHA-256
 * of the body) and the signature is over the URL alone.
 * https://www.twilio.com/docs/usage/webhooks/webhooks-security
 * Statuses: https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
 * Proxies rewrite the URL (twilio/twilio-node#321): the config's `webhookUrl` says what Twilio signed.
 */
import { createHash } from 'node:crypto';
import type { AdapterWebhook, DeliveryEventType, ProviderDeliveryEvent, TwilioConfig } from 'messagepipe';
import {
  hmac,
  isRecord,
  parseForm,
  parseJson,
  safeEqual,
  text,
  unauthorized,
  unreadable,
} from '../_shared/webhook';

/** `MessageStatus` → our type. */
export const TWILIO_STATUS_TYPES: Record<string, DeliveryEventType> = {
  accepted: 'accepted',
  scheduled: 'accepted',
  queued: 'accepted',
  sending: 'sent',
  sent: 'sent',
  delivered: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
  read: 'opened',
  canceled: 'dropped',
};

/** Error codes that say the number itself cannot receive: another send would fail the same way. */
const PERMANENT_ERRORS = new Set(['21211', '21612', '21614', '30005', '30006', '30008']);
/** "Attempt to send to unsubscribed recipient": the number replied STOP. */
const UNSUBSCRIBED_ERROR = '21610';

/** The URL variants twilio-node's `validateRequest` accepts: as given, without and with the default port. */
function urlVariants(url: string): string[] {
  const variants = new Set([url]);
  const match = /^(https?:\/\/)([^/?#]*)(.*)$/i.exec(url);
  if (match) {
    const [, scheme, authority, rest] = match as unknown as [string, string, string, string];
    const at = authority.lastIndexOf('@');
    const credentials = at >= 0 ? authority.slice(0, at + 1) : '';
    const hostPort = authority.slice(at + 1);
    const portMatch = /^(.*?)(?::(\d+))?$/.exec(hostPort)!;
    const host = portMatch[1]!;
    const defaultPort = scheme.toLowerCase() === 'https://' ? '443' : '80';
    variants.add(`${scheme}${credentials}${host}${rest}`);
    variants.add(`${scheme}${credentials}${host}:${portMatch[2] ?? defaultPort}${rest}`);
  }
  return [...variants];
}

/** The public URL Twilio called: `webhookUrl` when set (with the request's query when it has none). */
function signedUrl(requestUrl: string, configured: string | undefined): string {
  if (!configured) return requestUrl;
  if (configured.includes('?')) return configured;
  const query = requestUrl.indexOf('?');
  return query >= 0 ? configured + requestUrl.slice(query) : configured;
}

/** The signed text of a form body: URL, then `key + value` per parameter, keys sorted (values too, per key). */
export function twilioSignedText(url: string, pairs: Array<[string, string]>): string {
  const byKey = new Map<string, string[]>();
  for (const [key, value] of pairs) byKey.set(key, [...(byKey.get(key) ?? []), value]);
  let data = url;
  for (const key of [...byKey.keys()].sort()) {
    for (const value of byKey.get(key)!.sort()) data += key + value;
  }
  return data;
}

export const twilioWebhook: AdapterWebhook<TwilioConfig> = {
  async verify(request, ctx) {
    // Twilio signs callbacks with the account's auth token, also for accounts that send with an API key
    // (https://www.twilio.com/docs/usage/webhooks/webhooks-security).
    const token = ctx.config.authToken;
    if (!token) return unauthorized('Verifying Twilio callbacks needs the account authToken in the config');
    const signature = request.headers.get('x-twilio-signature');
    if (!signature) return unauthorized('X-Twilio-Signature missing');
    const url = signedUrl(request.url, ctx.config.webhookUrl);
    const json = (request.headers.get('content-type') ?? '').toLowerCase().includes('application/json');
    if (json) {
      let bodyHash: string | null = null;
      try {
        bodyHash = new URL(url).searchParams.get('bodySHA256');
      } catch {
        bodyHash = null;
      }
      if (!bodyHash) return unauthorized('A JSON body needs the bodySHA256 query parameter');
      const signedOk = urlVariants(url).some((candidate) =>
        safeEqual(hmac('sha1', token, candidate, 'base64'), signature),
      );
      if (!signedOk) return unauthorized('Signature does not match');
      const actual = createHash('sha256').update(request.rawBody).digest('hex');
      if (!safeEqual(actual, bodyHash.toLowerCase())) return unauthorized('Body does not match bodySHA256');
      const payload = parseJson(request.rawBody);
      if (!isRecord(payload)) return unreadable('Expected a JSON object');
      return { ok: true, payload };
    }
    const pairs = parseForm(request.rawBody);
    const matches = urlVariants(url).some((candidate) =>
      safeEqual(hmac('sha1', token, twilioSignedText(candidate, pairs), 'base64'), signature),
    );
    if (!matches) return unauthorized('Signature does not match');
    const payload: Record<string, string> = {};
    for (const [key, value] of pairs) if (!(key in payload)) payload[key] = value;
    return { ok: true, payload };
  },

  normalise(payload) {
    const params = payload as Record<string, unknown>;
    const messageId = text(params.MessageSid) ?? text(params.SmsSid) ?? '';
    const optOut = text(params.OptOutType);
    if (optOut) {
      // An inbound message under Advanced Opt-Out: the sender of the reply is the recipient of our messages.
      const event: ProviderDeliveryEvent = {
        type: optOut.toUpperCase() === 'STOP' ? 'unsubscribed' : 'unknown',
        status: `OptOut:${optOut}`,
        messageId,
        recipient: text(params.From) ?? '',
        raw: params,
      };
      return [event];
    }
    const status = (text(params.MessageStatus) ?? text(params.SmsStatus) ?? '').toLowerCase();
    const errorCode = text(params.ErrorCode);
    let type: DeliveryEventType = TWILIO_STATUS_TYPES[status] ?? 'unknown';
    if ((type === 'failed' || type === 'undelivered') && errorCode === UNSUBSCRIBED_ERROR)
      type = 'unsubscribed';
    const event: ProviderDeliveryEvent = {
      type,
      status,
      messageId,
      recipient: text(params.To) ?? '',
      raw: params,
    };
    if (errorCode && errorCode !== '0') {
      event.reason = `Twilio error ${errorCode}${text(params.ErrorMessage) ? `: ${text(params.ErrorMessage)}` : ''}`;
      if (type === 'failed' || type === 'undelivered') {
        event.bounceClass = PERMANENT_ERRORS.has(errorCode) ? 'hard' : 'soft';
      }
    }
    // Status callbacks carry no timestamp: duplicates are recognised by message, status and recipient.
    return [event];
  },
};
