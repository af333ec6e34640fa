/**
 * Signs webhook fixtures the way each provider documents it, with keys generated here. Written from the providers'
 * documentation, independently of the verifiers in adapters/webhooks, so a verifier that drifts fails.
 */
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A SendGrid signed-webhook key pair: the public half as SendGrid shows it (base64 SPKI DER). */
export function sendgridKeys(): { privateKey: KeyObject; publicKeyBase64: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKey,
    publicKeyBase64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
  };
}

/** Headers SendGrid sends: ECDSA P-256/SHA-256 of `timestamp + body`, base64 DER. */
export function sendgridHeaders(
  privateKey: KeyObject,
  body: string,
  timestamp: string,
): Record<string, string> {
  const signature = sign('sha256', Buffer.from(timestamp + body), privateKey).toString('base64');
  return {
    'content-type': 'application/json',
    'X-Twilio-Email-Event-Webhook-Signature': signature,
    'X-Twilio-Email-Event-Webhook-Timestamp': timestamp,
  };
}

/** Mailgun's `signature` object: hex HMAC-SHA256 of `timestamp + token`. */
export function mailgunSignature(key: string, timestamp: number, token: string) {
  return {
    timestamp: String(timestamp),
    token,
    signature: createHmac('sha256', key).update(`${timestamp}${token}`).digest('hex'),
  };
}

/** Twilio's X-Twilio-Signature of a form POST: base64 HMAC-SHA1 of URL + sorted key+value. */
export function twilioSignature(token: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((text, key) => text + key + params[key], url);
  return createHmac('sha1', token).update(data).digest('base64');
}

/** Termii's X-Termii-Signature: hex HMAC-SHA512 of the body. */
export function termiiSignature(key: string, body: string): string {
  return createHmac('sha512', key).update(body).digest('hex');
}

/** Basic auth header. */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** A self-signed certificate made with the openssl CLI, standing in for SNS's signing certificate. */
export function snsCertificate(): { certificatePem: string; privateKey: string } {
  const dir = mkdtempSync(join(tmpdir(), 'messagepipe-sns-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '2',
        '-subj',
        '/CN=sns.amazonaws.com',
      ],
      { stdio: 'ignore' },
    );
    return {
      certificatePem: readFileSync(join(dir, 'cert.pem'), 'utf8'),
      privateKey: readFileSync(join(dir, 'key.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An SNS message as SNS posts it, signed per its documentation (SignatureVersion 1: SHA1, 2: SHA256). */
export function snsMessage(options: {
  privateKey: string;
  type?: 'Notification' | 'SubscriptionConfirmation';
  topicArn: string;
  message: string;
  subject?: string;
  signatureVersion?: '1' | '2';
  certUrl: string;
  subscribeUrl?: string;
  messageId?: string;
}): Record<string, string> {
  const type = options.type ?? 'Notification';
  const fields: Record<string, string> = {
    Type: type,
    MessageId: options.messageId ?? '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
    TopicArn: options.topicArn,
    Message: options.message,
    Timestamp: '2026-12-02T04:00:00.000Z',
    SignatureVersion: options.signatureVersion ?? '2',
    SigningCertURL: options.certUrl,
  };
  if (options.subject !== undefined) fields.Subject = options.subject;
  if (type === 'SubscriptionConfirmation') {
    fields.SubscribeURL = options.subscribeUrl ?? '';
    fields.Token =
      '2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736';
  }
  const order =
    type === 'Notification'
      ? ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type']
      : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
  const stringToSign = order
    .filter((key) => fields[key] !== undefined)
    .map((key) => `${key}\n${fields[key]}\n`)
    .join('');
  const algorithm = fields.SignatureVersion === '1' ? 'sha1' : 'sha256';
  fields.Signature = sign(algorithm, Buffer.from(stringToSign), options.privateKey).toString('base64');
  return fields;
}

/** Hex SHA-256, for Twilio's bodySHA256. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
