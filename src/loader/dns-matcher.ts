/**
 * Pairs DNS queries with their responses, as the matching/matched/unmatched
 * tables of an eBPF DNS cache do: a query waits under (client address,
 * client port, id) until a response to that client with that id arrives,
 * or until it has waited `timeoutMs` and counts as unanswered.
 */
import type { DnsMessage } from './dns-frame.js';

export interface DnsMatcherOptions {
  /** How long a query waits for its response before it counts as unanswered. */
  readonly timeoutMs?: number;
  /** Queries waiting at once; beyond this the oldest counts as unanswered. */
  readonly maxPending?: number;
  /** Latency samples kept for the percentiles (a uniform sample of all beyond this). */
  readonly maxSamples?: number;
}

export interface LatencySummary {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface DnsSummary {
  readonly queries: number;
  readonly responses: number;
  /** Responses paired with a query. */
  readonly matched: number;
  /** Responses with no waiting query (its query was not seen, or timed out). */
  readonly unmatchedResponses: number;
  /** Queries that timed out or are still waiting. */
  readonly unanswered: number;
  readonly nxdomain: number;
  readonly servfail: number;
  /** Fractions of all responses, 0 when there were none. */
  readonly nxdomainRate: number;
  readonly servfailRate: number;
  readonly malformed: number;
  readonly fragments: number;
  /** Query to response, over matched pairs; absent when nothing matched. */
  readonly latency?: LatencySummary;
}

const DEFAULTS = { timeoutMs: 5_000, maxPending: 65_536, maxSamples: 100_000 } as const;

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export class DnsTransactionMatcher {
  readonly #timeoutNs: bigint;
  readonly #maxPending: number;
  readonly #maxSamples: number;
  /** Waiting queries by key, in arrival order (Map keeps insertion order), with their timestamps. */
  readonly #pending = new Map<string, bigint>();
  readonly #latenciesMs: number[] = [];
  #matched = 0;
  #seed = 0x9e3779b9;
  #counts = { queries: 0, responses: 0, unmatchedResponses: 0, expired: 0, nxdomain: 0, servfail: 0, malformed: 0, fragments: 0 };

  constructor(options: DnsMatcherOptions = {}) {
    this.#timeoutNs = BigInt(Math.round((options.timeoutMs ?? DEFAULTS.timeoutMs) * 1e6));
    this.#maxPending = options.maxPending ?? DEFAULTS.maxPending;
    this.#maxSamples = options.maxSamples ?? DEFAULTS.maxSamples;
  }

  /**
   * Account for one message; for a response that completes a query, the
   * query-to-response time in milliseconds.
   */
  observe(message: DnsMessage): number | undefined {
    const counts = this.#counts;
    if (message.status === 'malformed') counts.malformed++;
    if (message.status === 'fragment') counts.fragments++;
    this.#expire(message.timestampNs);
    if (message.kind === 'query') {
      counts.queries++;
      const key = `${message.src.address}|${message.src.port}|${message.id}`;
      // A retransmission keeps the first query's time: latency is what the client waited.
      if (!this.#pending.has(key)) {
        if (this.#pending.size >= this.#maxPending) this.#drop(this.#pending.keys().next().value!);
        this.#pending.set(key, message.timestampNs);
      }
      return undefined;
    }
    counts.responses++;
    if (message.rcode === 'NXDOMAIN') counts.nxdomain++;
    if (message.rcode === 'SERVFAIL') counts.servfail++;
    const key = `${message.dst.address}|${message.dst.port}|${message.id}`;
    const asked = this.#pending.get(key);
    if (asked === undefined) {
      counts.unmatchedResponses++;
      return undefined;
    }
    this.#pending.delete(key);
    this.#matched++;
    const latencyMs = Number(message.timestampNs - asked) / 1e6;
    this.#sample(latencyMs);
    return latencyMs;
  }

  summary(): DnsSummary {
    const { queries, responses, unmatchedResponses, expired, nxdomain, servfail, malformed, fragments } = this.#counts;
    const sorted = [...this.#latenciesMs].sort((a, b) => a - b);
    return {
      queries,
      responses,
      matched: this.#matched,
      unmatchedResponses,
      unanswered: expired + this.#pending.size,
      nxdomain,
      servfail,
      nxdomainRate: responses === 0 ? 0 : nxdomain / responses,
      servfailRate: responses === 0 ? 0 : servfail / responses,
      malformed,
      fragments,
      ...(sorted.length > 0 && { latency: { samples: this.#matched, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) } }),
    };
  }

  /** Queries are pending in arrival order, so the expired ones are at the front. */
  #expire(now: bigint): void {
    for (const [key, asked] of this.#pending) {
      if (now - asked < this.#timeoutNs) return;
      this.#drop(key);
    }
  }

  #drop(key: string): void {
    this.#pending.delete(key);
    this.#counts.expired++;
  }

  /** Reservoir sampling (Algorithm R): every latency has the same chance of being kept. */
  #sample(latencyMs: number): void {
    if (this.#latenciesMs.length < this.#maxSamples) {
      this.#latenciesMs.push(latencyMs);
      return;
    }
    const slot = this.#random(this.#matched);
    if (slot < this.#maxSamples) this.#latenciesMs[slot] = latencyMs;
  }

  /** xorshift32: reproducible, and good enough to pick reservoir slots. */
  #random(below: number): number {
    let x = this.#seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#seed = x >>> 0;
    return this.#seed % below;
  }
}
