/** DnsTransactionMatcher on hand-made message sequences with hand-computed expectations. */
import { describe, expect, it } from 'vitest';
import type { DnsMessage } from '../../src/loader/dns-frame.js';
import { DnsTransactionMatcher } from '../../src/loader/dns-matcher.js';

const MS = 1_000_000n;

function message(kind: 'query' | 'response', atMs: number, client: { address: string; port: number }, id: number, rest: Partial<DnsMessage> = {}): DnsMessage {
  const server = { address: '192.0.2.53', port: 53 };
  return {
    timestampNs: BigInt(atMs) * MS,
    direction: 'in',
    ifindex: 1,
    ipVersion: 4,
    src: kind === 'query' ? client : server,
    dst: kind === 'query' ? server : client,
    size: 40,
    id,
    kind,
    opcode: 'QUERY',
    rcode: 'NOERROR',
    flags: [],
    questions: [],
    answers: [],
    status: 'ok',
    ...rest,
  };
}

const alice = { address: '192.0.2.1', port: 40000 };
const bob = { address: '192.0.2.2', port: 40000 };

describe('DnsTransactionMatcher', () => {
  it('pairs a response with the query of the same client address, client port and id', () => {
    const matcher = new DnsTransactionMatcher();
    expect(matcher.observe(message('query', 0, alice, 1))).toBeUndefined();
    matcher.observe(message('query', 1, bob, 1));
    matcher.observe(message('query', 2, { ...alice, port: 40001 }, 1));
    // Same id, other client: not alice's.
    expect(matcher.observe(message('response', 5, bob, 1))).toBe(4);
    expect(matcher.observe(message('response', 10, alice, 1))).toBe(10);
    expect(matcher.observe(message('response', 11, alice, 1))).toBeUndefined();
    expect(matcher.observe(message('response', 12, alice, 2))).toBeUndefined();
    expect(matcher.summary()).toMatchObject({ queries: 3, responses: 4, matched: 2, unmatchedResponses: 2, unanswered: 1 });
  });

  it('counts a query as unanswered once it has waited the timeout, and its late response as unmatched', () => {
    const matcher = new DnsTransactionMatcher({ timeoutMs: 5000 });
    matcher.observe(message('query', 0, alice, 7));
    matcher.observe(message('query', 4000, bob, 8));
    matcher.observe(message('response', 6000, alice, 7));
    expect(matcher.observe(message('response', 6500, bob, 8))).toBe(2500);
    expect(matcher.summary()).toMatchObject({ queries: 2, responses: 2, matched: 1, unmatchedResponses: 1, unanswered: 1 });
  });

  it('measures a retransmitted query from its first transmission', () => {
    const matcher = new DnsTransactionMatcher();
    matcher.observe(message('query', 100, alice, 3));
    matcher.observe(message('query', 1100, alice, 3));
    expect(matcher.observe(message('response', 1600, alice, 3))).toBe(1500);
    expect(matcher.summary()).toMatchObject({ queries: 2, matched: 1, unanswered: 0 });
  });

  it('counts NXDOMAIN and SERVFAIL with their share of responses, and malformed messages and fragments', () => {
    const matcher = new DnsTransactionMatcher();
    const rcodes = ['NOERROR', 'NXDOMAIN', 'NXDOMAIN', 'SERVFAIL', 'NOERROR', 'REFUSED', 'NOERROR', 'NXDOMAIN'];
    rcodes.forEach((rcode, i) => {
      matcher.observe(message('query', i, alice, i, i === 2 ? { status: 'malformed', problem: 'x' } : {}));
      matcher.observe(message('response', i + 1, alice, i, { rcode, ...(i === 5 ? { status: 'fragment' as const } : {}) }));
    });
    const summary = matcher.summary();
    expect(summary).toMatchObject({ queries: 8, responses: 8, matched: 8, nxdomain: 3, servfail: 1, malformed: 1, fragments: 1, unanswered: 0 });
    expect(summary.nxdomainRate).toBeCloseTo(3 / 8);
    expect(summary.servfailRate).toBeCloseTo(1 / 8);
  });

  it('gives nearest-rank p50 and p99 of the matched latencies', () => {
    const matcher = new DnsTransactionMatcher({ timeoutMs: 1e9 });
    // Latencies 1..200 ms, in a scrambled order.
    for (let i = 0; i < 200; i++) {
      const latency = ((i * 77) % 200) + 1;
      matcher.observe(message('query', i * 1000, alice, i));
      matcher.observe(message('response', i * 1000 + latency, alice, i));
    }
    expect(matcher.summary().latency).toEqual({ samples: 200, p50Ms: 100, p99Ms: 198 });
    const empty = new DnsTransactionMatcher().summary();
    expect(empty).toMatchObject({ nxdomainRate: 0, servfailRate: 0 });
    expect(empty).not.toHaveProperty('latency');
  });

  it('bounds what it keeps: the oldest waiting query beyond maxPending is unanswered, latencies are sampled', () => {
    const matcher = new DnsTransactionMatcher({ maxPending: 2, maxSamples: 10, timeoutMs: 1e9 });
    matcher.observe(message('query', 0, alice, 1));
    matcher.observe(message('query', 1, alice, 2));
    matcher.observe(message('query', 2, alice, 3));
    expect(matcher.observe(message('response', 3, alice, 1))).toBeUndefined();
    expect(matcher.summary()).toMatchObject({ queries: 3, unanswered: 3, unmatchedResponses: 1 });

    const sampled = new DnsTransactionMatcher({ maxSamples: 10, timeoutMs: 1e9 });
    for (let i = 0; i < 1000; i++) {
      sampled.observe(message('query', i * 100, alice, i));
      sampled.observe(message('response', i * 100 + 1 + (i % 50), alice, i));
    }
    const latency = sampled.summary().latency!;
    expect(latency.samples).toBe(1000);
    expect(latency.p50Ms).toBeGreaterThanOrEqual(1);
    expect(latency.p99Ms).toBeLessThanOrEqual(50);
    expect(latency.p50Ms).toBeLessThanOrEqual(latency.p99Ms);
  });
});
