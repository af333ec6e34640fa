import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadlineTimers } from '../src/failover/timeout';

describe('DeadlineTimers: many deadlines on one timer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires each entry once its deadline passes, in any order of insertion, and never a deleted one', () => {
    const fired: string[] = [];
    const timers = new DeadlineTimers<string>((entry) => fired.push(`${entry}@${performance.now()}`));
    const start = performance.now();
    timers.add('late', start + 300);
    timers.add('early', start + 100);
    const deleted = timers.add('deleted', start + 50);
    timers.add('middle', start + 200);
    timers.delete(deleted);
    timers.delete(deleted);
    expect(timers.size).toBe(3);
    vi.advanceTimersByTime(99);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([`early@${start + 100}`]);
    vi.advanceTimersByTime(200);
    expect(fired).toEqual([`early@${start + 100}`, `middle@${start + 200}`, `late@${start + 300}`]);
    expect(timers.size).toBe(0);
  });

  it('re-arms for the earliest entry left when the one it was armed for is deleted', () => {
    const fired: number[] = [];
    const timers = new DeadlineTimers<number>((entry) => fired.push(entry));
    const start = performance.now();
    const first = timers.add(1, start + 100);
    timers.add(2, start + 1000);
    timers.delete(first);
    vi.advanceTimersByTime(999);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([2]);
  });

  it('keeps one entry per attempt in flight, however many have come and gone', () => {
    const timers = new DeadlineTimers<object>(() => {
      throw new Error('no entry should time out');
    });
    const kept = timers.add({}, performance.now() + 30_000);
    for (let index = 0; index < 10_000; index++) {
      timers.delete(timers.add({}, performance.now() + 15_000));
    }
    expect(timers.size).toBe(1);
    timers.delete(kept);
    expect(timers.size).toBe(0);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(40_000);
  });

  it('lets a callback add entries while the timer fires', () => {
    const fired: string[] = [];
    const timers: DeadlineTimers<string> = new DeadlineTimers<string>((entry) => {
      fired.push(entry);
      if (entry === 'first') timers.add('follow-up', performance.now() + 10);
      // A callback may also take out an entry that is due in the same turn: it does not fire.
      if (entry === 'first') timers.delete(alsoDue);
    });
    const now = performance.now();
    timers.add('first', now + 10);
    const alsoDue = timers.add('also due', now + 10);
    vi.advanceTimersByTime(10);
    expect(fired).toEqual(['first']);
    vi.advanceTimersByTime(10);
    expect(fired).toEqual(['first', 'follow-up']);
  });
});

describe('the shared attempt timer and the process lifetime', () => {
  it('does not keep a process alive once its sends are done (the attempt timeout is 15 s)', async () => {
    const script = `
      import { Dispatcher } from 'messagepipe';
      import { createMockAdapter } from 'messagepipe/testing';
      const pipe = new Dispatcher({ adapters: [createMockAdapter({ provider: 'mock', channel: 'email' })] });
      await pipe.senders.set({ projectId: 'p', channel: 'email', senderEmail: 'noreply@acme.test' });
      await pipe.providers.add({ projectId: 'p', channel: 'email', provider: 'mock', name: 'mock', config: {} });
      const result = await pipe.send({ projectId: 'p', channel: 'email', to: 'ann@example.test', subject: 'Hi', text: 'x' });
      console.log(result.provider, Date.now());
    `;
    const started = Date.now();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', script],
      { cwd: new URL('..', import.meta.url), timeout: 12_000 },
    );
    const [provider, sentAt] = stdout.trim().split(' ');
    expect(provider).toBe('mock');
    // The child exits right after its send; with the timer holding it open it would wait out the 15 s timeout.
    expect(Date.now() - Number(sentAt)).toBeLessThan(5_000);
    expect(Date.now() - started).toBeLessThan(12_000);
  }, 20_000);

  it('keeps a process alive while an attempt waits on an adapter that holds nothing open, then fails over', async () => {
    // The hung adapter's promise is all the process has: without the attempt timer holding it open, Node would
    // exit mid-send (exit code 13, unsettled top-level await) instead of timing the attempt out.
    const script = `
      import { Dispatcher, defineAdapter } from 'messagepipe';
      import { createMockAdapter } from 'messagepipe/testing';
      import { z } from 'zod';
      const hung = defineAdapter({ provider: 'hung', channel: 'email', configSchema: z.object({}).passthrough(),
        send: () => new Promise(() => {}) });
      const pipe = new Dispatcher({ adapters: [hung, createMockAdapter({ provider: 'mock', channel: 'email' })] });
      await pipe.senders.set({ projectId: 'p', channel: 'email', senderEmail: 'noreply@acme.test' });
      await pipe.providers.add({ projectId: 'p', channel: 'email', provider: 'hung', name: 'hung', priority: 1, config: { timeoutMs: 300 } }, { verify: false });
      await pipe.providers.add({ projectId: 'p', channel: 'email', provider: 'mock', name: 'mock', priority: 2, config: {} });
      const result = await pipe.send({ projectId: 'p', channel: 'email', to: 'ann@example.test', subject: 'Hi', text: 'x' });
      console.log(result.attempts.map((attempt) => attempt.provider + ':' + (attempt.error?.code ?? attempt.outcome)).join(' '));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', script],
      { cwd: new URL('..', import.meta.url), timeout: 12_000 },
    );
    expect(stdout.trim()).toBe('hung:PROVIDER_TIMEOUT mock:sent');
  }, 20_000);
});
