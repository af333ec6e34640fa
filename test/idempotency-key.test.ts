import { describe, expect, it } from 'vitest';
import { newIdempotencyKey } from '../src/idempotency-key';

describe('generated idempotency keys', () => {
  it('are UUID v4 shaped and never repeat, across block boundaries', () => {
    const keys = new Set<string>();
    // More than two blocks of 65,536 keys.
    for (let index = 0; index < 140_000; index++) {
      const key = newIdempotencyKey();
      expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      keys.add(key);
    }
    expect(keys.size).toBe(140_000);
  });
});
