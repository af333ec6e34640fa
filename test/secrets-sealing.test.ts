import { randomBytes } from 'node:crypto';
import { generateSecretKey, isMessagePipeError, type MessagePipeError } from 'messagepipe';
import { describe, expect, it, vi } from 'vitest';
import { createSealingCodec } from '../src/sealing';
import { plainSecretCodec, type SecretBinding } from '../src/secrets';

const KEY_2025 = randomBytes(32);
const KEY_2026 = randomBytes(32);
const record: SecretBinding = { projectId: 'project-a', recordId: '5d0e2a64-6c6f-4f3e-9b55-0b9d1d1c9f10' };
const values = { apiKey: 'SG.live-secret-value-0123456789', 'auth.pass': 'p@ss wörd/+=' };

function codec(
  activeKeyId = 'k2026',
  keys: Record<string, string | Uint8Array> = { k2025: KEY_2025, k2026: KEY_2026 },
) {
  return createSealingCodec({ keys, activeKeyId });
}

/** The error a call throws, which must be a MessagePipeError. */
function errorOf(call: () => unknown): MessagePipeError {
  try {
    call();
  } catch (error) {
    expect(isMessagePipeError(error)).toBe(true);
    return error as MessagePipeError;
  }
  throw new Error('expected the call to throw');
}

/** Replaces the part at `index` of `sealed:v1:<keyId>:<nonce>:<ciphertext>`. */
function withPart(sealed: string, index: number, change: (part: string) => string): string {
  const parts = sealed.split(':');
  parts[index] = change(parts[index]!);
  return parts.join(':');
}

function flipByte(base64url: string, at: number): string {
  const bytes = Buffer.from(base64url, 'base64url');
  bytes[at]! ^= 0x01;
  return bytes.toString('base64url');
}

describe('the sealing codec', () => {
  it('seals with the active key, and opens what it sealed', () => {
    const sealed = codec().encode(values, record);
    expect(sealed).toMatch(/^sealed:v1:k2026:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/);
    expect(Buffer.from(sealed.split(':')[3]!, 'base64url')).toHaveLength(12);
    expect(sealed).not.toContain(values.apiKey);
    expect(codec().decode(sealed, record)).toEqual(values);
    expect(codec().isCurrent(sealed)).toBe(true);
    expect(codec('k2025').isCurrent(sealed)).toBe(false);
  });

  it('uses a fresh nonce for every seal', () => {
    const seals = new Set(Array.from({ length: 50 }, () => codec().encode(values, record)));
    expect(seals.size).toBe(50);
    const nonces = new Set([...seals].map((sealed) => sealed.split(':')[3]));
    expect(nonces.size).toBe(50);
  });

  it('does not show how long the secrets are', () => {
    const short = codec().encode({ apiKey: 'abc' }, record);
    const longer = codec().encode({ apiKey: 'abcdefghijklmnop' }, record);
    expect(short.length).toBe(longer.length);
  });

  it('opens records sealed with an older key after rotation', () => {
    const sealedIn2025 = codec('k2025').encode(values, record);
    expect(codec('k2026').decode(sealedIn2025, record)).toEqual(values);
    expect(codec('k2026').isCurrent(sealedIn2025)).toBe(false);
  });

  it('refuses text moved to another record or project', () => {
    const sealed = codec().encode(values, record);
    const moved = errorOf(() => codec().decode(sealed, { ...record, recordId: 'another-record' }));
    expect(moved.code).toBe('SECRET_INVALID');
    expect(moved.message).toContain('another-record');
    expect(moved.message).toContain('"k2026"');
    const otherProject = errorOf(() => codec().decode(sealed, { ...record, projectId: 'project-b' }));
    expect(otherProject.code).toBe('SECRET_INVALID');
  });

  it('refuses altered ciphertext, nonce or tag', () => {
    const sealed = codec().encode(values, record);
    const ciphertextLength = Buffer.from(sealed.split(':')[4]!, 'base64url').length;
    const altered = [
      withPart(sealed, 4, (part) => flipByte(part, 0)),
      withPart(sealed, 4, (part) => flipByte(part, ciphertextLength - 1)),
      withPart(sealed, 3, (part) => flipByte(part, 5)),
      withPart(sealed, 4, (part) => Buffer.from(part, 'base64url').subarray(0, 20).toString('base64url')),
    ];
    for (const text of altered) {
      const error = errorOf(() => codec().decode(text, record));
      expect(error.code).toBe('SECRET_INVALID');
      expect(error.message).not.toContain(values.apiKey);
    }
  });

  it('refuses text whose key id was changed to another known key', () => {
    const sealed = codec('k2025').encode(values, record);
    const relabelled = withPart(sealed, 2, () => 'k2026');
    expect(errorOf(() => codec().decode(relabelled, record)).code).toBe('SECRET_INVALID');
  });

  it('names the missing key when a record is sealed with a key it was not given', () => {
    const sealed = codec('k2025').encode(values, record);
    const error = errorOf(() => codec('k2026', { k2026: KEY_2026 }).decode(sealed, record));
    expect(error.code).toBe('SECRET_KEY_MISSING');
    expect(error.message).toContain('"k2025"');
    expect(error.message).toContain(record.recordId);
  });

  it('names the key when the key under that id is the wrong one', () => {
    const sealed = codec().encode(values, record);
    const error = errorOf(() => codec('k2026', { k2026: randomBytes(32) }).decode(sealed, record));
    expect(error.code).toBe('SECRET_INVALID');
    expect(error.message).toContain('"k2026"');
  });

  it('without keys, names the key a sealed record needs', () => {
    const sealed = codec().encode(values, record);
    const error = errorOf(() => plainSecretCodec.decode(sealed, record));
    expect(error.code).toBe('SECRET_KEY_MISSING');
    expect(error.message).toContain('"k2026"');
  });

  it('answers garbage with a typed error, never a crash or garbage values', () => {
    const sealed = codec().encode(values, record);
    const inputs = [
      '',
      'sealed:',
      'sealed:v1',
      'sealed:v1:k2026',
      'sealed:v1:k2026::',
      'sealed:v1:k2026:!!!:???',
      'sealed:v2:k2026:abc:def',
      `${sealed}:extra`,
      'plain:{not json',
      'plain:[1,2]',
      'plain:{"apiKey":42}',
      'something else entirely',
      ...Array.from(
        { length: 30 },
        () =>
          `sealed:v1:k2026:${randomBytes(12).toString('base64url')}:${randomBytes(40).toString('base64url')}`,
      ),
    ];
    for (const input of inputs) {
      for (const decoder of [codec(), plainSecretCodec]) {
        const error = errorOf(() => decoder.decode(input, record));
        expect(['SECRET_INVALID', 'SECRET_KEY_MISSING']).toContain(error.code);
      }
    }
  });

  it('opens secrets stored before keys were configured, warning once', () => {
    const onUnsealed = vi.fn();
    const sealing = createSealingCodec({ keys: { k2026: KEY_2026 }, activeKeyId: 'k2026' }, { onUnsealed });
    const plain = plainSecretCodec.encode(values, record);
    expect(sealing.decode(plain, record)).toEqual(values);
    expect(sealing.decode(plain, record)).toEqual(values);
    expect(onUnsealed).toHaveBeenCalledTimes(1);
    expect(sealing.isCurrent(plain)).toBe(false);
    const strict = createSealingCodec({
      keys: { k2026: KEY_2026 },
      activeKeyId: 'k2026',
      acceptUnsealed: false,
    });
    expect(errorOf(() => strict.decode(plain, record)).code).toBe('SECRET_INVALID');
  });

  it('takes keys as bytes, base64, base64url or hex', () => {
    const bytes = randomBytes(32);
    const forms = [
      bytes,
      new Uint8Array(bytes),
      bytes.toString('base64'),
      bytes.toString('base64url'),
      bytes.toString('hex'),
    ];
    const sealed = createSealingCodec({ keys: { k: bytes }, activeKeyId: 'k' }).encode(values, record);
    for (const key of forms) {
      expect(createSealingCodec({ keys: { k: key }, activeKeyId: 'k' }).decode(sealed, record)).toEqual(
        values,
      );
    }
    const generated = generateSecretKey();
    expect(Buffer.from(generated, 'base64')).toHaveLength(32);
    expect(generateSecretKey()).not.toBe(generated);
  });

  it('refuses malformed keys at start-up, naming the key id and never the key', () => {
    const tooShort = randomBytes(16).toString('base64');
    const cases: Array<[Record<string, string | Uint8Array>, string, string]> = [
      [{ k1: tooShort }, 'k1', 'k1'],
      [{ k1: 'not a key at all, just a passphrase' }, 'k1', 'k1'],
      [{ k1: randomBytes(31) }, 'k1', 'k1'],
      [{ 'bad:id': randomBytes(32) }, 'bad:id', 'key ids'],
      [{ k1: randomBytes(32) }, 'k2', '"k2"'],
    ];
    for (const [keys, activeKeyId, named] of cases) {
      const error = errorOf(() => createSealingCodec({ keys, activeKeyId }));
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).toContain(named);
      for (const key of Object.values(keys)) {
        if (typeof key === 'string') expect(error.message).not.toContain(key);
      }
    }
  });
});
