/**
 * The two tc-dns-redirect programs as the kernel runs them
 * (BPF_PROG_TEST_RUN), judged against frames built independently by
 * test/support/packets.ts from what the programs document:
 *
 * - lo: a UDP query 127.0.0.1:P → resolver becomes containerIp:P → upstream,
 *   verdict TC_ACT_REDIRECT (bpf_redirect_neigh);
 * - eth: a UDP answer upstream → containerIp:P becomes resolver →
 *   127.0.0.1:P with both MAC addresses zeroed, verdict TC_ACT_REDIRECT;
 * - each with IPv4 and UDP checksums equal to a full recomputation (0xffff
 *   for a computed 0, and a zero UDP checksum stays zero);
 * - every other frame comes out byte for byte with TC_ACT_UNSPEC.
 *
 * BPF_PROG_TEST_RUN builds a CHECKSUM_NONE skb and offers no way to ask for
 * CHECKSUM_PARTIAL or CHECKSUM_COMPLETE (the __sk_buff it accepts has no
 * ip_summed), so these runs cover full checksums; the netns scenario
 * (scenario.test.ts) covers CHECKSUM_PARTIAL with real locally sent UDP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProgram, type Program } from '../../src/loader/index.js';
import { PROGRAMS } from '../../src/programs/index.js';
import { describeWithBpf } from '../loader/support.js';
import {
  arpRequestFrame,
  hexDump,
  ipv4TcpFrame,
  ipv4UdpFragments,
  ipv4UdpFrame,
  ipv6UdpFrame,
  parseFrame,
  udpChecksum,
  udpDatagram,
  type EthernetSpec,
  type UdpSpec,
} from '../support/packets.js';

/** linux/pkt_cls.h, restated. */
const TC_ACT_UNSPEC = 0xffffffff;
const TC_ACT_REDIRECT = 7;

interface Config {
  readonly name: string;
  readonly resolverIp: string;
  readonly resolverPort: number;
  readonly upstreamIp: string;
  readonly upstreamPort: number;
  readonly containerIp: string;
}

/**
 * Docker's resolver address with a high port; the same port on both sides
 * (no port change, so no port checksum update); addresses whose
 * little-endian loads have the top bit set and clear; the extreme ports.
 */
const CONFIGS: readonly Config[] = [
  { name: 'docker-like', resolverIp: '127.0.0.11', resolverPort: 35353, upstreamIp: '198.51.100.53', upstreamPort: 53, containerIp: '192.0.2.2' },
  { name: 'same port', resolverIp: '127.0.0.11', resolverPort: 53, upstreamIp: '203.0.113.7', upstreamPort: 53, containerIp: '100.64.1.2' },
  { name: 'extremes', resolverIp: '127.255.255.254', resolverPort: 65535, upstreamIp: '203.0.113.255', upstreamPort: 1, containerIp: '198.51.100.255' },
];

const CLIENT = '127.0.0.1';
const CLIENT_PORT = 40123;
const MACS: EthernetSpec = { dst: '02:00:00:00:00:0a', src: '02:00:00:00:00:0b' };
const ZERO_MACS: EthernetSpec = { dst: '00:00:00:00:00:00', src: '00:00:00:00:00:00' };

/** A DNS query for example.com A. */
const DNS_QUERY = Uint8Array.from(Buffer.from('abcd01000001000000000000076578616d706c6503636f6d0000010001', 'hex'));

interface FrameFields {
  readonly eth: EthernetSpec;
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly payload: Uint8Array;
  readonly checksum?: UdpSpec['checksum'];
  readonly id?: number;
  readonly ttl?: number;
}

function frame(f: FrameFields): Uint8Array {
  return ipv4UdpFrame({ eth: f.eth, ip: { src: f.src, dst: f.dst, id: f.id, ttl: f.ttl }, udp: { srcPort: f.sport, dstPort: f.dport, payload: f.payload, checksum: f.checksum } });
}

/** A query as the client sends it, and the frame lo's program must turn it into. */
function query(config: Config, payload: Uint8Array, extra: Partial<FrameFields> = {}): { input: Uint8Array; expected: Uint8Array } {
  const base = { eth: MACS, sport: CLIENT_PORT, payload, ...extra };
  return {
    input: frame({ ...base, src: CLIENT, dst: config.resolverIp, dport: config.resolverPort }),
    expected: frame({ ...base, src: config.containerIp, dst: config.upstreamIp, dport: config.upstreamPort }),
  };
}

/** An answer as upstream sends it, and the frame eth's program must turn it into. */
function answer(config: Config, payload: Uint8Array, extra: Partial<FrameFields> = {}): { input: Uint8Array; expected: Uint8Array } {
  const base = { dport: CLIENT_PORT, payload, ...extra };
  return {
    input: frame({ eth: MACS, ...base, src: config.upstreamIp, dst: config.containerIp, sport: config.upstreamPort }),
    expected: frame({ ...base, eth: ZERO_MACS, src: config.resolverIp, dst: CLIENT, sport: config.resolverPort }),
  };
}

/** A small deterministic PRNG (mulberry32), so that failures reproduce. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
}

function randomBytes(random: () => number, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}

/**
 * A payload ending in the 16-bit word that makes the UDP checksum of
 * `datagramFor(payload)` a computed 0 (sent as 0xffff): with that word 0 the
 * checksum is ~S for the sum S of everything else, and adding the word
 * 0xffff − S makes the sum 0xffff. The result is checked, not assumed.
 */
function payloadWithComputedZero(datagramFor: (payload: Uint8Array) => { src: string; dst: string; datagram: Uint8Array }): Uint8Array {
  const payload = DNS_QUERY.slice(0, 28);
  const checksumOf = () => {
    const { src, dst, datagram } = datagramFor(payload);
    return udpChecksum('ipv4', src, dst, datagram);
  };
  payload.set([0, 0], 26);
  const sumWithout = ~checksumOf() & 0xffff;
  const word = 0xffff - sumWithout;
  payload.set([word >> 8, word & 0xff], 26);
  expect(checksumOf(), 'checksum of the payload made to compute to 0').toBe(0xffff);
  return payload;
}

describeWithBpf('tc-dns-redirect programs in the kernel (BPF_PROG_TEST_RUN)', () => {
  const loaded: Program[] = [];
  const load = (name: 'tc-dns-redirect-lo' | 'tc-dns-redirect-eth', config: Config): Program => {
    const options = {
      resolver: `${config.resolverIp}:${config.resolverPort}`,
      upstream: `${config.upstreamIp}:${config.upstreamPort}`,
      containerIp: config.containerIp,
    };
    const program = loadProgram(PROGRAMS[name]!.build(name === 'tc-dns-redirect-lo' ? { ...options, ethIfindex: 5 } : { ...options, loIfindex: 1 }));
    loaded.push(program);
    return program;
  };
  afterAll(() => {
    for (const program of loaded) program.close();
  });

  const expectRun = (program: Program, input: Uint8Array, expected: Uint8Array, verdict: number, what: string): void => {
    const result = program.testRun(input, { extraRoom: 0 });
    if (result.retval !== verdict || Buffer.compare(result.data, expected) !== 0) {
      expect.fail(
        `${what}: verdict ${result.retval}, expected ${verdict}\ninput:\n${hexDump(input)}\nexpected:\n${hexDump(expected)}\nkernel output:\n${hexDump(result.data)}`,
      );
    }
  };

  describe.each(CONFIGS)('$name', (config) => {
    let lo: Program;
    let eth: Program;
    beforeAll(() => {
      lo = load('tc-dns-redirect-lo', config);
      eth = load('tc-dns-redirect-eth', config);
    });

    it('lo: rewrites a query to go from the container to upstream, with both checksums as a full recomputation gives', () => {
      const { input, expected } = query(config, DNS_QUERY);
      const parsed = parseFrame(expected);
      expect(parsed.ipv4?.checksumValid && parsed.udp?.checksumValid).toBe(true);
      expectRun(lo, input, expected, TC_ACT_REDIRECT, 'query');
    });

    it('eth: rewrites an answer to come from the resolver to 127.0.0.1, zeroing both MAC addresses', () => {
      const { input, expected } = answer(config, DNS_QUERY);
      expectRun(eth, input, expected, TC_ACT_REDIRECT, 'answer');
    });

    it('both: 300 random payloads, IP ids and TTLs each (checksums all over the 16-bit range)', () => {
      const random = prng(0x5eed + config.resolverPort);
      for (let i = 0; i < 300; i++) {
        const extra = { id: Math.floor(random() * 0x10000), ttl: 1 + Math.floor(random() * 255) };
        const payload = randomBytes(random, 12 + Math.floor(random() * 500));
        const q = query(config, payload, extra);
        expectRun(lo, q.input, q.expected, TC_ACT_REDIRECT, `query ${i}`);
        const a = answer(config, payload, extra);
        expectRun(eth, a.input, a.expected, TC_ACT_REDIRECT, `answer ${i}`);
      }
    });

    it('both: a rewrite whose checksum computes to 0 writes 0xffff; a zero checksum ("none") stays zero', () => {
      const queryPayload = payloadWithComputedZero((payload) => {
        const { expected } = query(config, payload);
        return { src: config.containerIp, dst: config.upstreamIp, datagram: expected.subarray(34) };
      });
      const q = query(config, queryPayload);
      expect(parseFrame(q.expected).udp?.checksum).toBe(0xffff);
      expectRun(lo, q.input, q.expected, TC_ACT_REDIRECT, 'query with a computed-zero checksum');

      const answerPayload = payloadWithComputedZero((payload) => {
        const { expected } = answer(config, payload);
        return { src: config.resolverIp, dst: CLIENT, datagram: expected.subarray(34) };
      });
      const a = answer(config, answerPayload);
      expectRun(eth, a.input, a.expected, TC_ACT_REDIRECT, 'answer with a computed-zero checksum');

      const noneQuery = query(config, DNS_QUERY, { checksum: 'none' });
      expectRun(lo, noneQuery.input, noneQuery.expected, TC_ACT_REDIRECT, 'query without checksum');
      const noneAnswer = answer(config, DNS_QUERY, { checksum: 'none' });
      expectRun(eth, noneAnswer.input, noneAnswer.expected, TC_ACT_REDIRECT, 'answer without checksum');
    });

    it('lo: an input whose own checksum is 0xffff (a computed 0) is rewritten right', () => {
      const payload = payloadWithComputedZero((p) => ({ src: CLIENT, dst: config.resolverIp, datagram: udpDatagram('ipv4', CLIENT, config.resolverIp, { srcPort: CLIENT_PORT, dstPort: config.resolverPort, payload: p }) }));
      const { input, expected } = query(config, payload);
      expect(parseFrame(input).udp?.checksum).toBe(0xffff);
      expectRun(lo, input, expected, TC_ACT_REDIRECT, 'query whose checksum is 0xffff');
    });

    it('leaves everything else untouched with TC_ACT_UNSPEC', () => {
      const untouched: [string, Program, Uint8Array][] = [
        ['lo: another destination port', lo, frame({ eth: MACS, src: CLIENT, dst: config.resolverIp, sport: CLIENT_PORT, dport: config.resolverPort ^ 1, payload: DNS_QUERY })],
        ['lo: another destination address', lo, frame({ eth: MACS, src: CLIENT, dst: '127.0.0.12', sport: CLIENT_PORT, dport: config.resolverPort, payload: DNS_QUERY })],
        ['lo: a client on 127.0.0.2', lo, frame({ eth: MACS, src: '127.0.0.2', dst: config.resolverIp, sport: CLIENT_PORT, dport: config.resolverPort, payload: DNS_QUERY })],
        ['lo: TCP to the resolver', lo, ipv4TcpFrame({ eth: MACS, ip: { src: CLIENT, dst: config.resolverIp }, tcp: { srcPort: CLIENT_PORT, dstPort: config.resolverPort } })],
        ['lo: IPv4 with options', lo, ipv4UdpFrame({ eth: MACS, ip: { src: CLIENT, dst: config.resolverIp, options: Uint8Array.of(1, 1, 1, 0) }, udp: { srcPort: CLIENT_PORT, dstPort: config.resolverPort, payload: DNS_QUERY } })],
        ['lo: IPv6 UDP', lo, ipv6UdpFrame({ eth: MACS, ip: { src: '::1', dst: '::1' }, udp: { srcPort: CLIENT_PORT, dstPort: config.resolverPort, payload: DNS_QUERY } })],
        ['eth: another source port', eth, frame({ eth: MACS, src: config.upstreamIp, dst: config.containerIp, sport: config.upstreamPort ^ 2, dport: CLIENT_PORT, payload: DNS_QUERY })],
        ['eth: another source address', eth, frame({ eth: MACS, src: '198.51.100.54', dst: config.containerIp, sport: config.upstreamPort, dport: CLIENT_PORT, payload: DNS_QUERY })],
        ['eth: to another address', eth, frame({ eth: MACS, src: config.upstreamIp, dst: '192.0.2.99', sport: config.upstreamPort, dport: CLIENT_PORT, payload: DNS_QUERY })],
        ['eth: ARP', eth, arpRequestFrame({ senderIp: config.upstreamIp, targetIp: config.containerIp })],
      ];
      const fragments = ipv4UdpFragments({ ip: { src: config.upstreamIp, dst: config.containerIp }, udp: { srcPort: config.upstreamPort, dstPort: CLIENT_PORT, payload: new Uint8Array(64) } }, 32);
      untouched.push(['eth: a non-first fragment', eth, fragments[1]!]);
      for (const [what, program, input] of untouched) expectRun(program, input, input, TC_ACT_UNSPEC, what);
    });

    it('leaves a matching frame cut short inside the UDP header untouched', () => {
      for (const [program, full] of [
        [lo, query(config, DNS_QUERY).input],
        [eth, answer(config, DNS_QUERY).input],
      ] as const) {
        // Test runs of an IPv4 frame need the whole IPv4 header (the kernel pulls it into the skb first).
        for (let length = 34; length < 42; length++) {
          const cut = full.slice(0, length);
          expectRun(program, cut, cut, TC_ACT_UNSPEC, `frame cut to ${length} bytes`);
        }
      }
    });

    it('round trip: an answer to the rewritten query comes back as the answer of the resolver the client asked', () => {
      const q = query(config, DNS_QUERY);
      const sent = parseFrame(lo.testRun(q.input).data);
      // Upstream answers the datagram it got: addresses and ports swapped.
      const { input, expected } = answer(config, DNS_QUERY, { dport: sent.udp!.srcPort });
      expect(parseFrame(input).ipv4?.dst).toBe(sent.ipv4?.src);
      const back = parseFrame(eth.testRun(input).data);
      expect({ src: back.ipv4?.src, sport: back.udp?.srcPort, dst: back.ipv4?.dst, dport: back.udp?.dstPort }).toEqual({
        src: config.resolverIp,
        sport: config.resolverPort,
        dst: CLIENT,
        dport: CLIENT_PORT,
      });
      expect(back.udp?.checksumValid).toBe(true);
      expect(parseFrame(expected).udp?.checksum).toBe(back.udp?.checksum);
    });
  });
});
