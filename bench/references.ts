/**
 * Each bpfgen program beside its C reference in bench/reference/: how to
 * build both for the same options, the packets the benchmark times, and the
 * packets and configurations test/bench-references.test.ts runs through
 * both to show that they do the same work.
 */
import type { AssembledProgram, ProgramType } from '../src/asm/program.js';
import type { Program } from '../src/loader/index.js';
import { PROGRAMS } from '../src/programs/index.js';
import {
  arpRequestFrame,
  ETHERTYPE_IPV4,
  ethernetFrame,
  ipv4Packet,
  ipv4TcpFrame,
  ipv4UdpFragments,
  ipv4UdpFrame,
  ipv6UdpFrame,
  type Ipv4UdpFrameSpec,
} from '../test/support/packets.js';
import type { Defines } from './clang.js';

export type Options = Readonly<Record<string, string | number>>;

/** A packet the benchmark times, and whether the program acts on it. */
export interface RunCase {
  readonly name: string;
  readonly kind: 'matching' | 'non-matching' | 'rewrite every run';
  readonly packet: Uint8Array;
  /**
   * Build and configure both programs with these options instead of the
   * defaults: for 'rewrite every run', options under which the rewrite
   * leaves the packet as it was, so that every repetition of a test run
   * (which reuses one buffer) takes the rewrite path again.
   */
  readonly options?: Options;
}

/** Packets under one configuration, for the equivalence test. */
export interface EquivalenceSet {
  readonly options: Options;
  /** Under these options every rewrite leaves the packet as it was (the rewrite-every-run configuration). */
  readonly identity?: boolean;
  readonly packets: readonly { readonly name: string; readonly packet: Uint8Array }[];
}

export interface Reference {
  /** Row name, e.g. `xdp-dns-forward`. */
  readonly name: string;
  readonly type: ProgramType;
  /** The C file in bench/reference/, and the name of its program (function). */
  readonly source: string;
  readonly function: string;
  /** The C declares maps, so it is compiled with -g for their BTF. */
  readonly btf?: boolean;
  /** The options everything is measured with. */
  readonly options: Options;
  /** bpfgen: build for `options`, as `bpfgen attach` would (no call sites recorded). */
  build(options: Options): AssembledProgram;
  /** clang: the -D defines that put `options` into the C (none when the program reads them from a map). */
  defines(options: Options): Defines;
  /** After loading (either program): write `options` into its maps; absent when the program carries them as constants. */
  readonly configure?: (program: Program, options: Options) => void;
  readonly cases: readonly RunCase[];
  equivalence(): readonly EquivalenceSet[];
}

// ---------------------------------------------------------------- xdp-dns-forward

const XDP_DEFAULTS = { dnsIp: '100.127.136.241', dnsPort: 53, listenPort: 5053 } as const;
/** listenPort = dnsPort: a query is rewritten onto the port it already has, its checksum unchanged. */
const XDP_IDENTITY = { ...XDP_DEFAULTS, listenPort: XDP_DEFAULTS.dnsPort } as const;
const CLIENT = { ip: '100.64.0.7', port: 40000 } as const;

/** A DNS query for example.com (type A), as the payload of every query and reply. */
const DNS_QUERY = Uint8Array.from([
  0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0, 0x00, 0x01, 0x00, 0x01,
]);

interface DnsForwardSettings {
  readonly dnsIp: string;
  readonly dnsPort: number;
  readonly listenPort: number;
}

const settingsOf = (options: Options): DnsForwardSettings => ({ ...XDP_DEFAULTS, ...options }) as DnsForwardSettings;

function query(settings: DnsForwardSettings, overrides: Partial<Ipv4UdpFrameSpec['udp']> = {}, ip: Partial<Ipv4UdpFrameSpec['ip']> = {}): Uint8Array {
  return ipv4UdpFrame({
    ip: { src: CLIENT.ip, dst: settings.dnsIp, ...ip },
    udp: { srcPort: CLIENT.port, dstPort: settings.dnsPort, payload: DNS_QUERY, ...overrides },
  });
}

function reply(settings: DnsForwardSettings, overrides: Partial<Ipv4UdpFrameSpec['udp']> = {}, ip: Partial<Ipv4UdpFrameSpec['ip']> = {}): Uint8Array {
  return ipv4UdpFrame({
    ip: { src: settings.dnsIp, dst: CLIENT.ip, ...ip },
    udp: { srcPort: settings.listenPort, dstPort: CLIENT.port, payload: DNS_QUERY, ...overrides },
  });
}

/** A deterministic pseudo-random sequence (xorshift32), so that a failing packet can be reproduced. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

/**
 * Packets for the equivalence test under `settings`: every branch of the
 * program (each header check failing, query and reply matching, each
 * comparison missing, checksum present, absent and at its extremes), then
 * queries and replies with a random checksum and random bytes flipped in
 * the fields the program reads.
 */
function dnsForwardPackets(settings: DnsForwardSettings, seed: number): { name: string; packet: Uint8Array }[] {
  const packets: { name: string; packet: Uint8Array }[] = [
    { name: 'query', packet: query(settings) },
    { name: 'reply', packet: reply(settings) },
    { name: 'query without checksum', packet: query(settings, { checksum: 'none' }) },
    { name: 'reply without checksum', packet: reply(settings, { checksum: 'none' }) },
    { name: 'query with checksum 0xffff', packet: query(settings, { checksum: 0xffff }) },
    { name: 'query with checksum 1', packet: query(settings, { checksum: 1 }) },
    { name: 'reply with checksum 0xffff', packet: reply(settings, { checksum: 0xffff }) },
    { name: 'query to another address', packet: query(settings, {}, { dst: '192.0.2.53' }) },
    { name: 'query to another port', packet: query(settings, { dstPort: settings.dnsPort === 5353 ? 5354 : 5353 }) },
    { name: 'reply from another address', packet: reply(settings, {}, { src: '192.0.2.53' }) },
    { name: 'reply from another port', packet: reply(settings, { srcPort: settings.listenPort === 1 ? 2 : settings.listenPort - 1 }) },
    { name: 'query with IP options', packet: query(settings, {}, { options: Uint8Array.of(1, 1, 1, 0) }) },
    { name: 'query with the more-fragments flag (first fragment)', packet: query(settings, {}, { moreFragments: true }) },
    ...ipv4UdpFragments({ ip: { src: CLIENT.ip, dst: settings.dnsIp }, udp: { srcPort: CLIENT.port, dstPort: settings.dnsPort, payload: new Uint8Array(64) } }, 32).map(
      (packet, i) => ({ name: `fragment ${i}`, packet }),
    ),
    { name: 'IPv6 query', packet: ipv6UdpFrame({ ip: { src: 'fd00::7', dst: 'fd00::53' }, udp: { srcPort: CLIENT.port, dstPort: settings.dnsPort, payload: DNS_QUERY } }) },
    { name: 'TCP to the DNS port', packet: ipv4TcpFrame({ ip: { src: CLIENT.ip, dst: settings.dnsIp }, tcp: { srcPort: CLIENT.port, dstPort: settings.dnsPort } }) },
    { name: 'ARP', packet: arpRequestFrame({ senderIp: CLIENT.ip, targetIp: settings.dnsIp }) },
    { name: 'IPv4 version 6 header', packet: query(settings, {}, { versionIhl: 0x65 }) },
    { name: 'truncated query (41 bytes)', packet: query(settings).subarray(0, 41) },
    { name: 'query of exactly the headers (42 bytes)', packet: ethernetFrame(ETHERTYPE_IPV4, ipv4Packet({ src: CLIENT.ip, dst: settings.dnsIp }, Uint8Array.of(0x9c, 0x40, settings.dnsPort >> 8, settings.dnsPort & 0xff, 0, 8, 0x12, 0x34))) },
  ];
  const next = random(seed);
  // Offsets of the fields the program reads: EtherType, version/IHL, fragment, protocol, addresses, ports.
  const fields = [12, 13, 14, 20, 21, 23, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37];
  for (let i = 0; i < 64; i++) {
    const base = i % 2 === 0 ? query(settings, { checksum: Math.floor(next() * 0x10000) }) : reply(settings, { checksum: Math.floor(next() * 0x10000) });
    const packet = Uint8Array.from(base);
    if (i % 4 >= 2) packet[fields[Math.floor(next() * fields.length)]!] ^= 1 << Math.floor(next() * 8);
    packets.push({ name: `random ${i} (seed ${seed})`, packet });
  }
  return packets;
}

/** Configurations chosen for their encodings, as in the program's own kernel tests. */
const XDP_CONFIGS: readonly Options[] = [
  XDP_DEFAULTS,
  XDP_IDENTITY,
  { dnsIp: '192.0.2.53', dnsPort: 53, listenPort: 1 },
  { dnsIp: '203.0.113.255', dnsPort: 65535, listenPort: 5353 },
];

const dnsForwardCases = (options: Options): RunCase[] => {
  const settings = settingsOf(options);
  return [
    { name: 'query (rewritten on the first run only)', kind: 'matching', packet: query(settings) },
    { name: 'UDP to another port', kind: 'non-matching', packet: query(settings, { dstPort: 123 }) },
    { name: 'IPv6', kind: 'non-matching', packet: ipv6UdpFrame({ ip: { src: 'fd00::7', dst: 'fd00::53' }, udp: { srcPort: CLIENT.port, dstPort: settings.dnsPort, payload: DNS_QUERY } }) },
    { name: 'query, listenPort = dnsPort', kind: 'rewrite every run', packet: query(settingsOf(XDP_IDENTITY)), options: XDP_IDENTITY },
  ];
};

/** The C's defines: addresses and ports in host order, as a C programmer writes constants. */
function dnsForwardDefines(options: Options): Defines {
  const settings = settingsOf(options);
  const [a, b, c, d] = settings.dnsIp.split('.').map(Number);
  return { DNS_IP: `0x${(((a! << 24) | (b! << 16) | (c! << 8) | d!) >>> 0).toString(16)}`, DNS_PORT: settings.dnsPort, LISTEN_PORT: settings.listenPort };
}

const xdpDnsForward: Reference = {
  name: 'xdp-dns-forward',
  type: 'xdp',
  source: 'xdp-dns-forward-const.c',
  function: 'xdp_dns_fwd',
  options: XDP_DEFAULTS,
  build: (options) => PROGRAMS['xdp-dns-forward']!.build(options),
  defines: dnsForwardDefines,
  cases: dnsForwardCases(XDP_DEFAULTS),
  equivalence: () =>
    XDP_CONFIGS.map((options, i) => ({ options, identity: options === XDP_IDENTITY, packets: dnsForwardPackets(settingsOf(options), 0x9e3779b9 + i) })),
};

export const REFERENCES: readonly Reference[] = [xdpDnsForward];
