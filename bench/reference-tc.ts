/**
 * tc-dns-redirect's two programs beside bench/reference/tc-dns-redirect.c,
 * which holds both (dns_redir_lo and dns_redir_eth).
 */
import { PROGRAMS } from '../src/programs/index.js';
import { parseEndpoint } from '../src/programs/options.js';
import {
  arpRequestFrame,
  ipv4TcpFrame,
  ipv4UdpFragments,
  ipv4UdpFrame,
  ipv6UdpFrame,
  type Ipv4UdpFrameSpec,
} from '../test/support/packets.js';
import { below, dnsMessage, flipOneBit, hostOrder, random } from './reference-packets.js';
import type { EquivalenceSet, Options, Reference, RunCase } from './references.js';

/** The settings both programs share, and the interface each redirects to. */
interface Settings {
  readonly resolver: string;
  readonly upstream: string;
  readonly containerIp: string;
  readonly ethIfindex: number;
  readonly loIfindex: number;
}

const DEFAULTS: Settings = { resolver: '127.0.0.11:53', upstream: '198.51.100.53:53', containerIp: '192.0.2.2', ethIfindex: 2, loIfindex: 1 };
/*
 * No configuration makes a rewrite an identity here: with every checksum
 * difference 0 bpfgen calls no checksum helper, while the C's helpers, asked
 * to replace a value by itself, still rewrite a header checksum of 0xffff as
 * 0x0000 (the same ones'-complement zero), so the bytes would differ.
 */
const CONFIGS: readonly Settings[] = [
  DEFAULTS,
  { resolver: '127.0.0.11:5353', upstream: '203.0.113.53:53', containerIp: '192.0.2.77', ethIfindex: 7, loIfindex: 1 },
  { resolver: '127.0.0.11:53', upstream: '198.51.100.53:5353', containerIp: '198.51.100.200', ethIfindex: 3, loIfindex: 1 },
];

const CLIENT = { ip: '127.0.0.1', port: 40000 } as const;
/** TC_ACT_UNSPEC (-1) as the test run reports a verdict: unsigned. */
const TC_ACT_UNSPEC = 0xffffffff;

const endpoint = (text: string) => parseEndpoint(text)!;

type Udp = Partial<Ipv4UdpFrameSpec['udp']>;
type Ip = Partial<Ipv4UdpFrameSpec['ip']>;

/** A query from the client on lo to the resolver. */
function query(s: Settings, udp: Udp = {}, ip: Ip = {}): Uint8Array {
  const resolver = endpoint(s.resolver);
  return ipv4UdpFrame({ ip: { src: CLIENT.ip, dst: resolver.address, ...ip }, udp: { srcPort: CLIENT.port, dstPort: resolver.port, payload: dnsMessage(), ...udp } });
}

/** The upstream's answer arriving on eth for the container. */
function answer(s: Settings, udp: Udp = {}, ip: Ip = {}): Uint8Array {
  const upstream = endpoint(s.upstream);
  return ipv4UdpFrame({ ip: { src: upstream.address, dst: s.containerIp, ...ip }, udp: { srcPort: upstream.port, dstPort: CLIENT.port, payload: dnsMessage(), ...udp } });
}

/** Offsets of the fields the programs read: EtherType, version/IHL, fragment, protocol, addresses, ports. */
const READ_FIELDS = [12, 13, 14, 20, 21, 23, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37];

/**
 * Queries and answers, each with one thing wrong, then random IPv4 and
 * UDP checksums, half with a bit flipped in a field the programs read. Both
 * programs get the same packets: each acts on its own kind.
 */
function packets(s: Settings, seed: number): EquivalenceSet['packets'] {
  const resolver = endpoint(s.resolver);
  const fixed = [
    { name: 'query', packet: query(s) },
    { name: 'answer', packet: answer(s) },
    { name: 'query without UDP checksum', packet: query(s, { checksum: 'none' }) },
    { name: 'answer without UDP checksum', packet: answer(s, { checksum: 'none' }) },
    { name: 'query with UDP checksum 0xffff', packet: query(s, { checksum: 0xffff }) },
    { name: 'answer with IPv4 checksum 0xffff', packet: answer(s, {}, { checksum: 0xffff }) },
    { name: 'query from 127.0.0.2', packet: query(s, {}, { src: '127.0.0.2' }) },
    { name: 'query to another port', packet: query(s, { dstPort: resolver.port === 5354 ? 5355 : 5354 }) },
    { name: 'query to another address', packet: query(s, {}, { dst: '127.0.0.53' }) },
    { name: 'answer from another server', packet: answer(s, {}, { src: '203.0.113.99' }) },
    { name: 'answer from another port', packet: answer(s, { srcPort: 5399 }) },
    { name: 'answer to another address', packet: answer(s, {}, { dst: '192.0.2.99' }) },
    { name: 'query with IP options', packet: query(s, {}, { options: Uint8Array.of(1, 1, 1, 0) }) },
    { name: 'first fragment of an answer', packet: answer(s, {}, { moreFragments: true }) },
    ...ipv4UdpFragments({ ip: { src: CLIENT.ip, dst: resolver.address }, udp: { srcPort: CLIENT.port, dstPort: resolver.port, payload: new Uint8Array(64) } }, 32).map(
      (packet, i) => ({ name: `fragment ${i} of a query`, packet }),
    ),
    { name: 'IPv6 query', packet: ipv6UdpFrame({ ip: { src: '::1', dst: '::1' }, udp: { srcPort: CLIENT.port, dstPort: resolver.port, payload: dnsMessage() } }) },
    { name: 'TCP query', packet: ipv4TcpFrame({ ip: { src: CLIENT.ip, dst: resolver.address }, tcp: { srcPort: CLIENT.port, dstPort: resolver.port } }) },
    { name: 'ARP', packet: arpRequestFrame({ senderIp: s.containerIp, targetIp: '192.0.2.1' }) },
    { name: 'truncated query (41 bytes)', packet: query(s).subarray(0, 41) },
  ];
  const next = random(seed);
  const randomized = Array.from({ length: 64 }, (_, i) => {
    const udp = { checksum: below(next, 0x10000) };
    const ip = { checksum: below(next, 0x10000) };
    const base = i % 2 === 0 ? query(s, udp, ip) : answer(s, udp, ip);
    return { name: `random ${i} (seed ${seed})`, packet: i % 4 >= 2 ? flipOneBit(base, READ_FIELDS, next) : base };
  });
  return [...fixed, ...randomized];
}

/** Both programs' constants: the C file holds both, so it needs every one. */
function defines(s: Settings) {
  const resolver = endpoint(s.resolver);
  const upstream = endpoint(s.upstream);
  return {
    RESOLVER_IP: hostOrder(resolver.address),
    RESOLVER_PORT: resolver.port,
    UPSTREAM_IP: hostOrder(upstream.address),
    UPSTREAM_PORT: upstream.port,
    CONTAINER_IP: hostOrder(s.containerIp),
    ETH_IFINDEX: s.ethIfindex,
    LO_IFINDEX: s.loIfindex,
  };
}

/** One program's options (each takes only its own interface index). */
const loOptions = ({ loIfindex: _eth, ...s }: Settings): Options => s;
const ethOptions = ({ ethIfindex: _lo, ...s }: Settings): Options => s;
const settingsOf = (options: Options): Settings => ({ ...DEFAULTS, ...options }) as Settings;

/**
 * The kernel reuses one packet across the repetitions of a test run, and
 * settings that made these rewrites an identity would also remove their
 * checksum updates (a zero difference emits no helper call in bpfgen). So
 * the rewrite path is measured with one repetition per test run, each on a
 * fresh copy of the packet.
 */
const FRESH = 'rewrite every run';

export const tcDnsRedirectLo: Reference = {
  name: 'tc-dns-redirect-lo',
  type: 'sched_cls',
  passVerdict: TC_ACT_UNSPEC,
  source: 'tc-dns-redirect.c',
  function: 'dns_redir_lo',
  options: loOptions(DEFAULTS),
  build: (options) => PROGRAMS['tc-dns-redirect-lo']!.build(options),
  defines: (options) => defines(settingsOf(options)),
  cases: [
    { name: 'query (rewritten on the first run only)', kind: 'matching', packet: query(DEFAULTS) },
    { name: 'UDP to another port', kind: 'non-matching', packet: query(DEFAULTS, { dstPort: 123 }) },
    { name: 'query, a fresh copy each run', kind: FRESH, packet: query(DEFAULTS), fresh: true },
  ] satisfies RunCase[],
  equivalence: () => CONFIGS.map((s, i) => ({ options: loOptions(s), packets: packets(s, 0x85ebca6b + i) })),
};

export const tcDnsRedirectEth: Reference = {
  name: 'tc-dns-redirect-eth',
  type: 'sched_cls',
  passVerdict: TC_ACT_UNSPEC,
  source: 'tc-dns-redirect.c',
  function: 'dns_redir_eth',
  options: ethOptions(DEFAULTS),
  build: (options) => PROGRAMS['tc-dns-redirect-eth']!.build(options),
  defines: (options) => defines(settingsOf(options)),
  cases: [
    { name: 'answer (rewritten on the first run only)', kind: 'matching', packet: answer(DEFAULTS) },
    { name: 'answer from another server', kind: 'non-matching', packet: answer(DEFAULTS, {}, { src: '203.0.113.99' }) },
    { name: 'answer, a fresh copy each run', kind: FRESH, packet: answer(DEFAULTS), fresh: true },
  ] satisfies RunCase[],
  equivalence: () => CONFIGS.map((s, i) => ({ options: ethOptions(s), packets: packets(s, 0xc2b2ae35 + i) })),
};
