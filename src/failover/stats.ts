import { RecordMap } from '../record-map';
import type { Attempt } from '../types';

const LATENCY_SAMPLES = 256;
/** Provider configs tracked at most; the least recently first-seen is dropped beyond it. */
const MAX_TRACKED_CONFIGS = 10_000;

/** Counters and latency percentiles of one provider config, since the dispatcher started. */
export interface ProviderStats {
  /** The project the provider config belongs to: ids are unique within a project only. */
  projectId: string;
  providerConfigId: string;
  provider: string;
  /** Calls made to the provider (skipped attempts are not calls). */
  attempts: number;
  successes: number;
  failures: { transient: number; provider: number; message: number };
  /** Attempts skipped because the circuit was open. */
  skipped: number;
  /** Latency of calls in ms, over the last 256 calls. */
  latencyMs: { p50: number; p90: number; p99: number; max: number; samples: number };
}

interface Entry {
  provider: string;
  attempts: number;
  successes: number;
  failures: { transient: number; provider: number; message: number };
  skipped: number;
  latencies: Float64Array;
  next: number;
  filled: number;
}

/** Per provider config counters, with a fixed-size latency window so memory stays flat however many sends run. */
export class StatsRecorder {
  readonly #entries = new RecordMap<Entry>();

  record(projectId: string, attempt: Attempt): void {
    let entry = this.#entries.get(projectId, attempt.providerConfigId);
    if (!entry) {
      entry = {
        provider: attempt.provider,
        attempts: 0,
        successes: 0,
        failures: { transient: 0, provider: 0, message: 0 },
        skipped: 0,
        latencies: new Float64Array(LATENCY_SAMPLES),
        next: 0,
        filled: 0,
      };
      if (this.#entries.size >= MAX_TRACKED_CONFIGS) this.#entries.deleteOldest();
      this.#entries.set(projectId, attempt.providerConfigId, entry);
    }
    if (attempt.outcome === 'skipped') {
      entry.skipped++;
      return;
    }
    entry.attempts++;
    if (attempt.outcome === 'sent') entry.successes++;
    else if (attempt.error) entry.failures[attempt.error.failureClass]++;
    entry.latencies[entry.next] = attempt.durationMs;
    entry.next = (entry.next + 1) % LATENCY_SAMPLES;
    entry.filled = Math.min(entry.filled + 1, LATENCY_SAMPLES);
  }

  forget(projectId: string, providerConfigId: string): void {
    this.#entries.delete(projectId, providerConfigId);
  }

  snapshot(): ProviderStats[] {
    return [...this.#entries.entries()].map(([projectId, providerConfigId, entry]) => {
      const sorted = entry.latencies.slice(0, entry.filled).sort();
      const at = (quantile: number) =>
        sorted.length === 0
          ? 0
          : sorted[Math.min(sorted.length - 1, Math.ceil(quantile * sorted.length) - 1)]!;
      return {
        projectId,
        providerConfigId,
        provider: entry.provider,
        attempts: entry.attempts,
        successes: entry.successes,
        failures: { ...entry.failures },
        skipped: entry.skipped,
        latencyMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1), samples: sorted.length },
      };
    });
  }
}
