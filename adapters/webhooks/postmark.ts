/**
 * Postmark webhooks: one JSON record per POST, `RecordType` Delivery, Bounce, SpamComplaint, Open, Click,
 * SubscriptionChange. Postmark signs nothing: the webhook URL carries HTTP basic auth credentials
 * (`https://user:password@host/…`), compared here in constant time, and Postmark publishes the IPs webhooks come
 * from, for an optional allow-list.
 * https://postmarkapp.com/developer/webhooks/webhooks-overview (protecting the webhook, IPs)
 * Bounce types: https://postmarkapp.com/developer/api/bounce-api#bounce-types
 */
import { BlockList, isIPv6 } from 'node:net';
import type { AdapterWebhook, DeliveryEventType, PostmarkConfig, ProviderDeliveryEvent } from 'messagepipe';
import { isRecord, parseJson, safeEqual, text, unauthorized, unreadable } from '../_shared/webhook';

/** Bounce `Type` → our type and class. Types that are not failures (AutoResponder, AddressChange…) are `unknown`. */
export const POSTMARK_BOUNCE_TYPES: Record<
  string,
  { type: DeliveryEventType; bounceClass?: 'hard' | 'soft' }
> = {
  HardBounce: { type: 'bounced', bounceClass: 'hard' },
  BadEmailAddress: { type: 'bounced', bounceClass: 'hard' },
  SoftBounce: { type: 'bounced', bounceClass: 'soft' },
  Transient: { type: 'bounced', bounceClass: 'soft' },
  DnsError: { type: 'bounced', bounceClass: 'soft' },
  InboxFull: { type: 'bounced', bounceClass: 'soft' },
  Blocked: { type: 'bounced', bounceClass: 'soft' },
  DMARCPolicy: { type: 'bounced', bounceClass: 'soft' },
  SpamNotification: { type: 'complained' },
  SpamComplaint: { type: 'complained' },
  Unsubscribe: { type: 'unsubscribed' },
  ManuallyDeactivated: { type: 'dropped' },
};

const allowLists = new Map<string, BlockList>();

function allowListOf(entries: readonly string[]): BlockList {
  const key = entries.join(',');
  let list = allowLists.get(key);
  if (!list) {
    list = new BlockList();
    for (const entry of entries) {
      const [address, prefix] = entry.split('/') as [string, string | undefined];
      const family = isIPv6(address) ? 'ipv6' : 'ipv4';
      if (prefix === undefined) list.addAddress(address, family);
      else list.addSubnet(address, Number(prefix), family);
    }
    if (allowLists.size > 100) allowLists.clear();
    allowLists.set(key, list);
  }
  return list;
}

function allowed(address: string, entries: readonly string[]): boolean {
  // IPv4 clients of a dual-stack server show up as ::ffff:a.b.c.d.
  const plain = address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  const list = allowListOf(entries);
  return list.check(plain, isIPv6(plain) ? 'ipv6' : 'ipv4');
}

export const postmarkWebhook: AdapterWebhook<PostmarkConfig> = {
  async verify(request, ctx) {
    const { webhookUser, webhookPassword, webhookAllowedIps } = ctx.config;
    if (!webhookUser || !webhookPassword) {
      return unauthorized('No webhookUser / webhookPassword in the provider config');
    }
    if (webhookAllowedIps && (!request.remoteAddress || !allowed(request.remoteAddress, webhookAllowedIps))) {
      return unauthorized('Source address not allowed');
    }
    const header = request.headers.get('authorization') ?? '';
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    const user = colon >= 0 ? decoded.slice(0, colon) : '';
    const password = colon >= 0 ? decoded.slice(colon + 1) : '';
    // Both compared, always: which half was wrong must not show in the timing.
    const userOk = safeEqual(user, webhookUser);
    const passwordOk = safeEqual(password, webhookPassword);
    if (!match || !userOk || !passwordOk) return unauthorized('Basic auth credentials do not match');
    const payload = parseJson(request.rawBody);
    if (!isRecord(payload)) return unreadable('Expected a JSON object');
    return { ok: true, payload };
  },

  normalise(payload) {
    const record = payload as Record<string, unknown>;
    const recordType = text(record.RecordType) ?? '';
    const messageId = text(record.MessageID) ?? '';
    const base = { messageId, raw: record };
    let event: ProviderDeliveryEvent;
    switch (recordType) {
      case 'Delivery':
        event = { ...base, type: 'delivered', status: recordType, recipient: text(record.Recipient) ?? '' };
        setAt(event, record.DeliveredAt);
        break;
      case 'Bounce':
      case 'SpamComplaint': {
        const bounceType = text(record.Type) ?? '';
        const mapped = POSTMARK_BOUNCE_TYPES[bounceType] ?? {
          type: recordType === 'SpamComplaint' ? 'complained' : 'unknown',
        };
        event = {
          ...base,
          type: mapped.type,
          status: `${recordType}:${bounceType}`,
          recipient: text(record.Email) ?? '',
        };
        if (mapped.bounceClass) event.bounceClass = mapped.bounceClass;
        setAt(event, record.BouncedAt);
        const reason = text(record.Description) || text(record.Details);
        if (reason) event.reason = reason;
        break;
      }
      case 'Open':
      case 'Click':
        event = {
          ...base,
          type: recordType === 'Open' ? 'opened' : 'clicked',
          status: recordType,
          recipient: text(record.Recipient) ?? '',
        };
        setAt(event, record.ReceivedAt);
        break;
      case 'SubscriptionChange': {
        // SuppressSending true: Postmark stopped sending to the address (a manual unsubscribe, a hard bounce or a
        // complaint, per SuppressionReason); false: it was reactivated, which says nothing we act on.
        const reason = text(record.SuppressionReason) ?? '';
        const suppressing = record.SuppressSending === true;
        const type: DeliveryEventType = !suppressing
          ? 'unknown'
          : reason === 'HardBounce'
            ? 'bounced'
            : reason === 'SpamComplaint'
              ? 'complained'
              : 'unsubscribed';
        event = {
          ...base,
          type,
          status: `${recordType}:${suppressing ? reason || 'Suppressed' : 'Reactivated'}`,
          recipient: text(record.Recipient) ?? '',
        };
        if (type === 'bounced') event.bounceClass = 'hard';
        if (reason) event.reason = reason;
        setAt(event, record.ChangedAt);
        break;
      }
      default:
        event = {
          ...base,
          type: 'unknown',
          status: recordType,
          recipient: text(record.Recipient) ?? text(record.Email) ?? '',
        };
    }
    const id = text(record.ID);
    if (id) event.providerEventId = id;
    return [event];
  },
};

function setAt(event: ProviderDeliveryEvent, value: unknown): void {
  const at = text(value);
  if (at) event.at = at;
}
