/**
 * Amazon SNS SMS adapter, on the official `@aws-sdk/client-sns` (v3), loaded on first use. Sends with `Publish`
 * to a `PhoneNumber` (AWS Query protocol: `POST /`, `Action=Publish`).
 *
 * The client is built from the provider config alone (region, credentials, `endpoint`), with the SDK's own
 * retries off (`maxAttempts: 1`: the dispatcher retries and fails over) and its request timeouts turned into
 * errors.
 *
 * Message attributes:
 * - `AWS.SNS.SMS.SMSType`: the config's `smsType`, `Transactional` by default;
 * - `AWS.SNS.SMS.SenderID`, first match wins: the message's own `from` when it is alphanumeric, the project's SMS
 *   sender id, the config's `senderId` (the account's default);
 * - `AWS.MM.SMS.OriginationNumber`: the message's own `from` when it is a number, else the config's
 *   `originationNumber`. The project's sender number is not used: SNS refuses numbers the AWS account does not
 *   own, and without one it picks an origination identity of the account itself.
 *
 * @example
 * ```ts
 * import { Dispatcher } from 'messagepipe';
 * import { sns } from 'messagepipe/adapters/sns';
 * const pipe = new Dispatcher({ adapters: [sns()] });
 * ```
 */
import type { MessageAttributeValue, SNSClient } from '@aws-sdk/client-sns';
import {
  type AdapterCallContext,
  type BuiltInAdapter,
  ClientPool,
  isProviderError,
  loadOptional,
  type OutboundSms,
  ProviderError,
  type ProviderErrorCode,
  type SendContext,
  type SnsConfig,
  snsConfigSchema,
  type VerifyResult,
} from 'messagepipe';
import { guardAwsClient, type HttpCallScope, runHttpCall } from './_shared/http';
import {
  classifyNetworkErrorCode,
  codeForHttpStatus,
  excerpt,
  isNetworkErrorCode,
  retryAfterFromHeaders,
} from './_shared/http-errors';
import { receiptFromSuccess } from './_shared/message-id';
import { cannotCheck } from './_shared/verify';
import { snsWebhook } from './webhooks/sns';

const PROVIDER = 'sns';
const PACKAGE = '@aws-sdk/client-sns';

/** Connection and request timeouts of a client whose config sets no `timeoutMs`. */
const DEFAULT_CLIENT_TIMEOUT_MS = 30_000;

const E164 = /^\+[1-9]\d{6,14}$/;

type SnsModule = typeof import('@aws-sdk/client-sns');

/** A client plus the SDK module it came from (for the command classes). */
interface PooledClient {
  client: SNSClient;
  sdk: SnsModule;
}

async function createClient(config: SnsConfig): Promise<PooledClient> {
  const sdk = await loadOptional(PACKAGE, PROVIDER, () => import('@aws-sdk/client-sns'));
  const timeoutMs = config.timeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS;
  const client = new sdk.SNSClient({
    region: config.region,
    credentials: {
      accessKeyId: config.accessKeyId,
      secretAccessKey: config.secretAccessKey,
      ...(config.sessionToken ? { sessionToken: config.sessionToken } : {}),
    },
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    // Where the client talks is the config's business alone, not AWS_ENDPOINT_URL* or ~/.aws/config.
    ignoreConfiguredEndpointUrls: true,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true },
  });
  // No redirects, answers read up to the size cap (see `_shared/http.ts`).
  guardAwsClient(client, PROVIDER, 'Amazon SNS');
  return { client, sdk };
}

function disposeClient(pooled: PooledClient): void {
  pooled.client.destroy();
}

/** The `MessageAttributes` of a `Publish` for a message; see the module comment for the order of sources. */
export function snsMessageAttributes(
  message: Pick<OutboundSms, 'from' | 'senderId'>,
  config: Pick<SnsConfig, 'smsType' | 'senderId' | 'originationNumber'>,
): Record<string, MessageAttributeValue> {
  const text = (value: string): MessageAttributeValue => ({ DataType: 'String', StringValue: value });
  const attributes: Record<string, MessageAttributeValue> = {
    'AWS.SNS.SMS.SMSType': text(config.smsType ?? 'Transactional'),
  };
  const fromIsNumber = message.from !== undefined && E164.test(message.from);
  const senderId = (fromIsNumber ? undefined : message.from) ?? message.senderId ?? config.senderId;
  if (senderId) attributes['AWS.SNS.SMS.SenderID'] = text(senderId);
  const originationNumber = (fromIsNumber ? message.from : undefined) ?? config.originationNumber;
  if (originationNumber) attributes['AWS.MM.SMS.OriginationNumber'] = text(originationNumber);
  return attributes;
}

/**
 * SNS error codes (the wire `Error/Code`), by the class they belong to: Publish's errors
 * (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors) and the common ones
 * (https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html).
 */
const CODES: Record<string, ProviderErrorCode> = {
  // Not an error `Publish` raises: SNS accepts a publish to an opted-out number and only logs the failed delivery
  // (the `@throws` list of PublishCommand in @aws-sdk/client-sns 3.1169 has no OptedOutException; opt-outs are
  // found with CheckIfPhoneNumberIsOptedOut). Kept for an SNS-compatible endpoint that does answer it.
  OptedOut: 'RECIPIENT_SUPPRESSED',
  AuthorizationError: 'PROVIDER_INVALID_CREDENTIALS',
  SignatureDoesNotMatch: 'PROVIDER_INVALID_CREDENTIALS',
  InvalidClientTokenId: 'PROVIDER_INVALID_CREDENTIALS',
  UnrecognizedClientException: 'PROVIDER_INVALID_CREDENTIALS',
  IncompleteSignature: 'PROVIDER_INVALID_CREDENTIALS',
  MissingAuthenticationToken: 'PROVIDER_INVALID_CREDENTIALS',
  ExpiredToken: 'PROVIDER_INVALID_CREDENTIALS',
  AccessDenied: 'PROVIDER_INVALID_CREDENTIALS',
  InvalidSecurity: 'PROVIDER_INVALID_CREDENTIALS',
  Throttled: 'PROVIDER_RATE_LIMITED',
  Throttling: 'PROVIDER_RATE_LIMITED',
  ThrottlingException: 'PROVIDER_RATE_LIMITED',
  TooManyRequestsException: 'PROVIDER_RATE_LIMITED',
  InternalError: 'PROVIDER_UNAVAILABLE',
  InternalFailure: 'PROVIDER_UNAVAILABLE',
  ServiceUnavailable: 'PROVIDER_UNAVAILABLE',
  KMSThrottling: 'PROVIDER_RATE_LIMITED',
};

/**
 * "Invalid parameter: PhoneNumber Reason: +66… is not valid to publish to". SNS gives it for a number it will not
 * publish to from this client's region — above all a region without SMS (aws-sdk-js#1217, boto3#2195,
 * https://docs.aws.amazon.com/sns/latest/dg/sns-supported-regions-countries.html) — as well as for a malformed
 * number. The adapter only ever publishes numbers already checked as E.164, so here it is the region or route:
 * provider-level, and another provider can send.
 */
const NOT_VALID_TO_PUBLISH_TO = /\bis not valid to publish to\b/i;

/**
 * The code of an SNS error. `InvalidParameter` / `ParameterValueInvalid` name the parameter in the message: a bad
 * `PhoneNumber` (the usual case, and the default) is message-level, except "is not valid to publish to" (see
 * {@link NOT_VALID_TO_PUBLISH_TO}); a sender id or origination number the account may not use is provider-level,
 * since another provider may send.
 */
export function codeForSnsError(
  awsCode: string,
  status: number | undefined,
  message: string,
): ProviderErrorCode {
  if (awsCode === 'InvalidParameter' || awsCode === 'ParameterValueInvalid') {
    if (/OriginationNumber|SenderID|sender id/i.test(message)) return 'SENDER_UNVERIFIED';
    if (NOT_VALID_TO_PUBLISH_TO.test(message)) return 'PROVIDER_REJECTED';
    if (/\bMessage\b(?! ?Attributes)/.test(message) && !/PhoneNumber/.test(message))
      return 'MESSAGE_REJECTED';
    return 'RECIPIENT_INVALID';
  }
  const known = CODES[awsCode];
  if (known) return known;
  return status === undefined ? 'ADAPTER_ERROR' : codeForHttpStatus(status);
}

/** What the SDK's service exceptions carry. */
interface AwsErrorShape {
  name?: unknown;
  Code?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $response?: { headers?: unknown };
}

/** Turns what the SDK threw into a classified {@link ProviderError} that holds no request data. */
function toProviderError(error: unknown, what: string, ambiguous: boolean): ProviderError {
  if (error instanceof ProviderError) return error;
  const shape = (typeof error === 'object' && error !== null ? error : {}) as AwsErrorShape;
  const status =
    typeof shape.$metadata?.httpStatusCode === 'number' ? shape.$metadata.httpStatusCode : undefined;
  const networkCode = shape.code;
  if (status === undefined && (shape.name === 'TimeoutError' || networkCode === 'ETIMEDOUT')) {
    // The SDK's timers (connection, request, socket inactivity) are TimeoutErrors, some without a code; it also
    // renames resets (ECONNRESET, EPIPE) to TimeoutError, so a non-timeout code is classified as itself.
    if (!isNetworkErrorCode(networkCode) || networkCode === 'ETIMEDOUT') {
      // The connection timer fires before anything was sent; the request and socket timers after.
      const connecting = typeof shape.message === 'string' && /establish a connection/i.test(shape.message);
      return new ProviderError('PROVIDER_TIMEOUT', `Amazon SNS did not answer ${what} in time`, {
        provider: PROVIDER,
        ambiguous: ambiguous && !connecting,
      });
    }
  }
  if (status === undefined && isNetworkErrorCode(networkCode)) {
    // The SDK reports resets as TimeoutError with the Node code (ECONNRESET).
    const failure = classifyNetworkErrorCode(networkCode);
    return new ProviderError(failure.code, `Could not reach Amazon SNS for ${what} (${networkCode})`, {
      provider: PROVIDER,
      ambiguous: ambiguous && failure.ambiguous,
    });
  }
  if (status !== undefined && status >= 200 && status < 300) {
    // SNS took the request but its answer could not be read: the message may well be on its way.
    return new ProviderError(
      'PROVIDER_UNAVAILABLE',
      `Amazon SNS answered ${status} to ${what} with a body that could not be read; it may have been accepted`,
      { provider: PROVIDER, status, ambiguous },
    );
  }
  const awsCode =
    typeof shape.Code === 'string'
      ? shape.Code
      : typeof shape.name === 'string'
        ? shape.name.replace(/Exception$/, '')
        : 'Unknown';
  const detail = typeof shape.message === 'string' && shape.message ? excerpt(shape.message) : 'no details';
  if (status === undefined && !(awsCode in CODES)) {
    return new ProviderError('ADAPTER_ERROR', `Amazon SNS ${what} failed (${awsCode}): ${detail}`, {
      provider: PROVIDER,
    });
  }
  const code = codeForSnsError(awsCode, status, detail);
  const options: ConstructorParameters<typeof ProviderError>[2] = {
    provider: PROVIDER,
    providerCode: awsCode,
  };
  if (status !== undefined) options.status = status;
  if (code === 'PROVIDER_RATE_LIMITED' || code === 'PROVIDER_UNAVAILABLE') {
    const retryAfterMs = retryAfterFromHeaders(shape.$response?.headers);
    if (retryAfterMs !== undefined) options.retryAfterMs = retryAfterMs;
  }
  const label = status === undefined ? awsCode : `${status}, ${awsCode}`;
  return new ProviderError(code, `Amazon SNS refused ${what} (${label}): ${detail}`, options);
}

/** Runs one SDK call under the context's signal and time budget; failures come back classified. */
async function callSns<T>(
  ctx: Pick<AdapterCallContext, 'signal' | 'timeoutMs'>,
  what: string,
  ambiguous: boolean,
  call: (abortSignal: AbortSignal, scope: HttpCallScope) => Promise<T>,
): Promise<T> {
  return runHttpCall(
    ctx,
    { provider: PROVIDER, label: 'Amazon SNS', operation: ambiguous ? 'send' : 'verify' },
    (scope) => call(scope.signal, scope),
    (error) => toProviderError(error, what, ambiguous),
  );
}

/**
 * The Amazon SNS SMS adapter. Register it with `new Dispatcher({ adapters: [sns()] })`; the provider config is
 * {@link SnsConfig} (`region`, `accessKeyId`, `secretAccessKey`, optional `sessionToken`, `senderId`, `smsType`,
 * `originationNumber`, `endpoint`, `timeoutMs`).
 */
export function sns(): BuiltInAdapter<'sns'> {
  const clients = new ClientPool<SnsConfig, PooledClient>(createClient, disposeClient);

  return {
    provider: PROVIDER,
    channel: 'sms',
    configSchema: snsConfigSchema,
    // aws.amazon.com/sns/faqs: "The total size limit for a single SMS publish action is 1600 bytes".
    limits: { maxBodyBytes: 1600 },
    webhook: snsWebhook,
    // The SDK is loaded before the attempt's timer starts (see `Adapter.load`). SigV4 never puts the secret key
    // on the wire, so there is no derived form to declare.
    load: async () => {
      await loadOptional(PACKAGE, PROVIDER, () => import('@aws-sdk/client-sns'));
    },

    async send(message: OutboundSms, ctx: SendContext<SnsConfig>) {
      // The core validated `to` as E.164; checked again because a custom caller may hand the adapter anything.
      if (!E164.test(message.to)) {
        throw new ProviderError(
          'RECIPIENT_INVALID',
          'Amazon SNS needs an E.164 recipient such as +14155550100',
          {
            provider: PROVIDER,
          },
        );
      }
      const { client, sdk } = await clients.get(ctx);
      const command = new sdk.PublishCommand({
        PhoneNumber: message.to,
        Message: message.body,
        MessageAttributes: snsMessageAttributes(message, ctx.config),
      });
      let body: string | undefined;
      const published = await callSns(ctx, 'the message', true, async (abortSignal, scope) => {
        const answer = await client.send(command, { abortSignal });
        body = scope.body;
        return answer;
      });
      // The documented answer is `text/xml` `<PublishResponse><PublishResult><MessageId>`: an HTML page or an
      // empty 200 (which the SDK reads as an answer without an id) is not it.
      return receiptFromSuccess(ctx.logger, {
        provider: PROVIDER,
        label: 'Amazon SNS',
        status: published.$metadata.httpStatusCode,
        messageId: published.MessageId,
        documented: /<PublishResponse[\s>]/.test(body ?? ''),
      });
    },

    async verify(config: SnsConfig, ctx: AdapterCallContext): Promise<VerifyResult> {
      return clients.withTemporary(config, async ({ client, sdk }) => {
        let attributes: Record<string, string>;
        try {
          const answer = await callSns(ctx, 'the credentials', false, (abortSignal) =>
            client.send(new sdk.GetSMSAttributesCommand({}), { abortSignal }),
          );
          attributes = answer.attributes ?? {};
        } catch (error) {
          // AuthorizationError is SNS's "denied access to the requested resource" (AuthorizationErrorException
          // in @aws-sdk/client-sns): the key signed correctly but may not read SMS attributes, as a key allowed
          // only sns:Publish cannot. That says nothing about sending. Refused credentials (InvalidClientTokenId,
          // SignatureDoesNotMatch…) are a verdict; anything else means "cannot tell".
          if (isProviderError(error) && error.providerCode === 'AuthorizationError') {
            return cannotCheck('GetSMSAttributes', error);
          }
          if (isProviderError(error) && error.code === 'PROVIDER_INVALID_CREDENTIALS') {
            return { valid: false, reason: error.message };
          }
          throw error;
        }
        const details: Record<string, unknown> = { smsAttributes: attributes };
        try {
          const sandbox = await callSns(ctx, 'the sandbox status', false, (abortSignal) =>
            client.send(new sdk.GetSMSSandboxAccountStatusCommand({}), { abortSignal }),
          );
          if (typeof sandbox.IsInSandbox === 'boolean') details.inSandbox = sandbox.IsInSandbox;
        } catch {
          // Optional detail: a key allowed to read SMS attributes but not the sandbox status is still valid.
        }
        return { valid: true, details };
      });
    },

    release: (providerConfigId, projectId) => clients.release(providerConfigId, projectId),
    close: () => clients.close(),
  };
}
