import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { MessagePipeError } from './errors';
import {
  decodePlain,
  isSecretValues,
  PLAIN_PREFIX,
  SEALED_PREFIX,
  type SecretBinding,
  type SecretCodec,
  type SecretValues,
} from './secrets';

/**
 * Encryption at rest of provider credentials (`new Dispatcher({ secrets })`).
 *
 * Each key is 32 random bytes, given as a `Uint8Array` or as base64 / hex text. Create one with
 * {@link generateSecretKey} (or `openssl rand -base64 32`) and keep it outside the database, e.g. in an environment
 * variable or a secret manager.
 */
export interface SecretsOptions {
  /**
   * Keys by id. Keep every key that still seals some stored record: after rotating, keep the old one until
   * `pipe.providers.reseal()` has finished. Ids are 1-64 characters of `A-Z a-z 0-9 _ . -`.
   */
  keys: Readonly<Record<string, string | Uint8Array>>;
  /** The id of the key that seals every new write. */
  activeKeyId: string;
  /**
   * Open secrets that were stored before keys were configured (a warning is logged once). Set `false` to refuse
   * them with `SECRET_INVALID` once `reseal()` has sealed every record.
   * @default true
   */
  acceptUnsealed?: boolean;
}

/*
 * Sealed format, version 1:  sealed:v1:<keyId>:<nonce>:<ciphertext+tag>
 *   - AES-256-GCM, a random 96-bit nonce per seal, 128-bit tag; nonce and ciphertext in base64url.
 *   - Associated data: ["messagepipe-secrets", 1, keyId, projectId, recordId] as JSON, so the text opens only on the
 *     record it was sealed for, and neither the key id nor the version can be edited.
 *   - Plaintext: the secret values as JSON, padded with spaces to a multiple of 32 bytes so the length of a
 *     credential does not show.
 */
const FORMAT_VERSION = 'v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const PAD_TO = 32;
const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** Creates a new random key for {@link SecretsOptions.keys}, as base64 text. */
export function generateSecretKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/** Everything `sealingCodec` needs besides the keys. */
export interface SealingCodecHooks {
  /** Called once, the first time unsealed secrets are opened. */
  onUnsealed?: () => void;
}

/**
 * The codec that seals secrets with AES-256-GCM. Validates the keys up front: a malformed key fails here, at
 * start-up, with `CONFIG_INVALID` naming its id (never its value).
 */
export function createSealingCodec(options: SecretsOptions, hooks: SealingCodecHooks = {}): SecretCodec {
  const keys = new Map<string, KeyObject>();
  for (const [id, material] of Object.entries(options.keys)) keys.set(id, toKeyObject(id, material));
  const activeKeyId = options.activeKeyId;
  const activeKey = keys.get(activeKeyId);
  if (!activeKey) {
    throw new MessagePipeError(
      'CONFIG_INVALID',
      `secrets.activeKeyId "${activeKeyId}" is not one of secrets.keys (${[...keys.keys()].join(', ') || 'none'})`,
      { issues: [{ path: ['secrets', 'activeKeyId'], message: 'Not one of secrets.keys' }] },
    );
  }
  const acceptUnsealed = options.acceptUnsealed ?? true;
  let warnedUnsealed = false;

  return {
    seals: true,
    encode(values: SecretValues, binding: SecretBinding): string {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', activeKey, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(associatedData(activeKeyId, binding));
      const sealed = Buffer.concat([cipher.update(padded(values)), cipher.final(), cipher.getAuthTag()]);
      return [
        'sealed',
        FORMAT_VERSION,
        activeKeyId,
        nonce.toString('base64url'),
        sealed.toString('base64url'),
      ].join(':');
    },

    decode(text: string, binding: SecretBinding): SecretValues {
      if (text.startsWith(PLAIN_PREFIX)) {
        if (!acceptUnsealed) {
          throw new MessagePipeError(
            'SECRET_INVALID',
            `Secrets of provider ${binding.recordId} are stored unsealed, and secrets.acceptUnsealed is false`,
          );
        }
        if (!warnedUnsealed) {
          warnedUnsealed = true;
          hooks.onUnsealed?.();
        }
        return decodePlain(text, binding);
      }
      const parts = text.split(':');
      if (!text.startsWith(SEALED_PREFIX) || parts.length !== 5) throw unreadable(binding, 'unknown format');
      const [, version, keyId = '', nonceText = '', sealedText = ''] = parts;
      if (version !== FORMAT_VERSION) {
        throw unreadable(
          binding,
          `sealed with format ${version}, which this version of messagepipe cannot read`,
        );
      }
      const key = keys.get(keyId);
      if (!key) {
        throw new MessagePipeError(
          'SECRET_KEY_MISSING',
          `Secrets of provider ${binding.recordId} are sealed with key "${keyId}", which is not among secrets.keys (${[...keys.keys()].join(', ')})`,
        );
      }
      const nonce = Buffer.from(nonceText, 'base64url');
      const sealed = Buffer.from(sealedText, 'base64url');
      if (nonce.length !== NONCE_BYTES || sealed.length < TAG_BYTES) throw unreadable(binding, 'truncated');
      let plaintext: string;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
        decipher.setAAD(associatedData(keyId, binding));
        decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
        plaintext = Buffer.concat([
          decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)),
          decipher.final(),
        ]).toString('utf8');
      } catch {
        throw new MessagePipeError(
          'SECRET_INVALID',
          `Secrets of provider ${binding.recordId} could not be opened with key "${keyId}": the key is wrong, the text was altered, or it was sealed for another record`,
        );
      }
      const values = parseJson(plaintext);
      if (!isSecretValues(values)) throw unreadable(binding, 'unexpected content');
      return values;
    },

    isCurrent(text: string): boolean {
      return text.startsWith(`${SEALED_PREFIX}${FORMAT_VERSION}:${activeKeyId}:`);
    },
  };
}

function toKeyObject(id: string, material: string | Uint8Array): KeyObject {
  const path = ['secrets', 'keys', id];
  if (!KEY_ID.test(id)) {
    throw new MessagePipeError('CONFIG_INVALID', 'Secret key ids are 1-64 characters of A-Z a-z 0-9 _ . -', {
      issues: [{ path, message: 'Invalid key id' }],
    });
  }
  const bytes = typeof material === 'string' ? decodeKeyText(material) : Buffer.from(material);
  if (bytes?.length !== KEY_BYTES) {
    throw new MessagePipeError(
      'CONFIG_INVALID',
      `Secret key "${id}" must be ${KEY_BYTES} bytes, as a Uint8Array or base64 / hex text (see generateSecretKey())`,
      { issues: [{ path, message: `Expected ${KEY_BYTES} bytes` }] },
    );
  }
  return createSecretKey(bytes);
}

/** Hex (64 digits) or base64 / base64url text; `undefined` for anything else. */
function decodeKeyText(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return undefined;
  return Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

function associatedData(keyId: string, binding: SecretBinding): Buffer {
  return Buffer.from(JSON.stringify(['messagepipe-secrets', 1, keyId, binding.projectId, binding.recordId]));
}

function padded(values: SecretValues): Buffer {
  const json = JSON.stringify(values);
  const length = Buffer.byteLength(json);
  return Buffer.from(json + ' '.repeat((PAD_TO - (length % PAD_TO)) % PAD_TO));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function unreadable(binding: SecretBinding, why: string): MessagePipeError {
  return new MessagePipeError(
    'SECRET_INVALID',
    `Secrets of provider ${binding.recordId} cannot be read: ${why}`,
  );
}
