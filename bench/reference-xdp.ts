/**
 * xdp-dns-forward beside bench/reference/xdp-dns-forward-const.c (settings
 * as constants, bpfgen's inline program) and xdp-dns-forward-map.c
 * (settings in an array map, bpfgen's map-configured variant).
 */
import { buildXdpDnsForwardMapConfigured, DNS_FORWARD_CONFIG_MAP, dnsForwardConfigValue } from '../src/programs/xdp-dns-forward.js';
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
import { below, dnsMessage, flipOneBit, hostOrder, random } from './reference-packets.js';
import type { EquivalenceSet, Options, Reference, RunCase } from './references.js';

const DEFAULTS = { dnsIp: '100.127.136.241', dnsPort: 53, listenPort: 5053 } as const;
/** listenPort = dnsPort: a query is rewritten onto the port it already has, its checksum unchanged, by the same instructions. */
const IDENTITY = { ...DEFAULTS, listenPort: DEFAULTS.dnsPort } as const;
const CLIENT = { ip: '100.64.0.7', port: 40000 } as const;

interface Settings {
  readonly dnsIp: string;
  readonly dnsPort: number;
  readonly listenPort: number;
}

const settingsOf = (options: Options): Settings => ({ ...DEFAULTS, ...options }) as Settings;

type Udp = Partial<Ipv4UdpFrameSpec['udp']>;
type Ip = Partial<Ipv4UdpFrameSpec['ip']>;

function query(s: Settings, udp: Udp = {}, ip: Ip = {}): Uint8Array {
  return ipv4UdpFrame({ ip: { src: CLIENT.ip, dst: s.dnsIp, ...ip }, udp: { srcPort: CLIENT.port, dstPort: s.dnsPort, payload: dnsMessage(), ...udp } });
}

function reply(s: Settings, udp: Udp = {}, ip: Ip = {}): Uint8Array {
  return ipv4UdpFrame({ ip: { src: s.dnsIp, dst: CLIENT.ip, ...ip }, udp: { srcPort: s.listenPort, dstPort: CLIENT.port, payload: dnsMessage(), ...udp } });
}

const ipv6Query = (s: Settings) =>
  ipv6UdpFrame({ ip: { src: 'fd00::7', dst: 'fd00::53' }, udp: { srcPort: CLIENT.port, dstPort: s.dnsPort, payload: dnsMessage() } });

/** Offsets of the fields the program reads: EtherType, version/IHL, fragment, protocol, addresses, ports. */
const READ_FIELDS = [12, 13, 14, 20, 21, 23, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37];

/**
 * Every branch of the program (each header check failing, query and reply
 * matching, each comparison missing, checksum present, absent and at its
 * extremes), then queries and replies with random checksums, half of them
 * with a bit flipped in a field the program reads.
 */
function packets(s: Settings, seed: number): EquivalenceSet['packets'] {
  const fixed = [
    { name: 'query', packet: query(s) },
    { name: 'reply', packet: reply(s) },
    { name: 'query without checksum', packet: query(s, { checksum: 'none' }) },
    { name: 'reply without checksum', packet: reply(s, { checksum: 'none' }) },
    { name: 'query with checksum 0xffff', packet: query(s, { checksum: 0xffff }) },
    { name: 'query with checksum 1', packet: query(s, { checksum: 1 }) },
    { name: 'reply with checksum 0xffff', packet: reply(s, { checksum: 0xffff }) },
    { name: 'query to another address', packet: query(s, {}, { dst: '192.0.2.53' }) },
    { name: 'query to another port', packet: query(s, { dstPort: s.dnsPort === 5353 ? 5354 : 5353 }) },
    { name: 'reply from another address', packet: reply(s, {}, { src: '192.0.2.53' }) },
    { name: 'reply from another port', packet: reply(s, { srcPort: s.listenPort === 1 ? 2 : s.listenPort - 1 }) },
    { name: 'query with IP options', packet: query(s, {}, { options: Uint8Array.of(1, 1, 1, 0) }) },
    { name: 'first fragment of a query', packet: query(s, {}, { moreFragments: true }) },
    ...ipv4UdpFragments({ ip: { src: CLIENT.ip, dst: s.dnsIp }, udp: { srcPort: CLIENT.port, dstPort: s.dnsPort, payload: new Uint8Array(64) } }, 32).map(
      (packet, i) => ({ name: `fragment ${i} of a query`, packet }),
    ),
    { name: 'IPv6 query', packet: ipv6Query(s) },
    { name: 'TCP to the DNS port', packet: ipv4TcpFrame({ ip: { src: CLIENT.ip, dst: s.dnsIp }, tcp: { srcPort: CLIENT.port, dstPort: s.dnsPort } }) },
    { name: 'ARP', packet: arpRequestFrame({ senderIp: CLIENT.ip, targetIp: s.dnsIp }) },
    { name: 'IP version 6 in an IPv4 frame', packet: query(s, {}, { versionIhl: 0x65 }) },
    { name: 'truncated query (41 bytes)', packet: query(s).subarray(0, 41) },
    {
      name: 'query of exactly the headers (42 bytes)',
      packet: ethernetFrame(ETHERTYPE_IPV4, ipv4Packet({ src: CLIENT.ip, dst: s.dnsIp }, Uint8Array.of(0x9c, 0x40, s.dnsPort >> 8, s.dnsPort & 0xff, 0, 8, 0x12, 0x34))),
    },
  ];
  const next = random(seed);
  const randomized = Array.from({ length: 64 }, (_, i) => {
    const udp = { checksum: below(next, 0x10000) };
    const base = i % 2 === 0 ? query(s, udp) : reply(s, udp);
    return { name: `random ${i} (seed ${seed})`, packet: i % 4 >= 2 ? flipOneBit(base, READ_FIELDS, next) : base };
  });
  return [...fixed, ...randomized];
}

/** Configurations chosen for their encodings, as in the program's own kernel tests. */
const CONFIGS: readonly Options[] = [DEFAULTS, IDENTITY, { dnsIp: '192.0.2.53', dnsPort: 53, listenPort: 1 }, { dnsIp: '203.0.113.255', dnsPort: 65535, listenPort: 5353 }];

const equivalence = (): EquivalenceSet[] =>
  CONFIGS.map((options, i) => ({ options, identity: options === IDENTITY, packets: packets(settingsOf(options), 0x9e3779b9 + i) }));

const cases: RunCase[] = [
  { name: 'query (rewritten on the first run only)', kind: 'matching', packet: query(DEFAULTS) },
  { name: 'UDP to another port', kind: 'non-matching', packet: query(DEFAULTS, { dstPort: 123 }) },
  { name: 'IPv6', kind: 'non-matching', packet: ipv6Query(DEFAULTS) },
  { name: 'query, listenPort = dnsPort', kind: 'rewrite every run', packet: query(IDENTITY), options: IDENTITY },
];

export const xdpDnsForward: Reference = {
  name: 'xdp-dns-forward',
  type: 'xdp',
  passVerdict: 2, // XDP_PASS
  source: 'xdp-dns-forward-const.c',
  function: 'xdp_dns_fwd',
  options: DEFAULTS,
  build: (options) => PROGRAMS['xdp-dns-forward']!.build(options),
  // Host order, as a C programmer writes constants; the C converts with bpf_htonl/bpf_htons.
  defines: (options) => {
    const s = settingsOf(options);
    return { DNS_IP: hostOrder(s.dnsIp), DNS_PORT: s.dnsPort, LISTEN_PORT: s.listenPort };
  },
  cases,
  equivalence,
};

const CONFIG_KEY = new Uint8Array(DNS_FORWARD_CONFIG_MAP.keySize);

export const xdpDnsForwardMap: Reference = {
  name: 'xdp-dns-forward (map)',
  type: 'xdp',
  passVerdict: 2, // XDP_PASS
  source: 'xdp-dns-forward-map.c',
  function: 'xdp_dns_fwd_map',
  btf: true,
  options: DEFAULTS,
  build: () => buildXdpDnsForwardMapConfigured(),
  defines: () => ({}),
  configure: (program, options) => program.map(DNS_FORWARD_CONFIG_MAP.name).set(CONFIG_KEY, dnsForwardConfigValue(options)),
  cases,
  equivalence,
};
