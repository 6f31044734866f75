/** socket-dns-filter beside bench/reference/socket-dns-filter.c. */
import { PROGRAMS } from '../src/programs/index.js';
import {
  ETHERTYPE_IPV6,
  ethernetFrame,
  IPPROTO_UDP,
  ipv4TcpFrame,
  ipv4UdpFragments,
  ipv4UdpFrame,
  ipv6Packet,
  ipv6UdpFrame,
  udpDatagram,
  type Ipv4UdpFrameSpec,
} from '../test/support/packets.js';
import { below, dnsMessage, flipOneBit, random } from './reference-packets.js';
import type { EquivalenceSet, Options, Reference, RunCase } from './references.js';

const DEFAULTS = { port: 53 } as const;
const CLIENT = { ip: '192.0.2.7', ip6: '2001:db8::7', port: 40000 } as const;
const SERVER = { ip: '198.51.100.53', ip6: '2001:db8::53' } as const;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_HOPOPTS = 0;

const portOf = (options: Options): number => Number(options.port ?? DEFAULTS.port);

type Udp = Partial<Ipv4UdpFrameSpec['udp']>;

function query4(port: number, udp: Udp = {}, ip: Partial<Ipv4UdpFrameSpec['ip']> = {}): Uint8Array {
  return ipv4UdpFrame({ ip: { src: CLIENT.ip, dst: SERVER.ip, ...ip }, udp: { srcPort: CLIENT.port, dstPort: port, payload: dnsMessage(), ...udp } });
}

function query6(port: number, udp: Udp = {}): Uint8Array {
  return ipv6UdpFrame({ ip: { src: CLIENT.ip6, dst: SERVER.ip6 }, udp: { srcPort: CLIENT.port, dstPort: port, payload: dnsMessage(), ...udp } });
}

/** IPv6 with an extension header of `nextHeader` (8 bytes: its next header UDP, then `rest`) before a UDP query. */
function query6After(port: number, nextHeader: number, rest: readonly number[]): Uint8Array {
  const udp = udpDatagram('ipv6', CLIENT.ip6, SERVER.ip6, { srcPort: CLIENT.port, dstPort: port, payload: dnsMessage() });
  const extension = Uint8Array.from([IPPROTO_UDP, ...rest]);
  return ethernetFrame(ETHERTYPE_IPV6, ipv6Packet({ src: CLIENT.ip6, dst: SERVER.ip6, nextHeader }, Uint8Array.from([...extension, ...udp])));
}

/** Fragment header after its next-header byte: reserved, offset (in 8-byte units) and M flag, identification. */
const fragmentHeader = (offsetUnits: number, more: boolean) => [0, (offsetUnits >> 5) & 0xff, ((offsetUnits << 3) & 0xf8) | (more ? 1 : 0), 0, 0, 0x12, 0x34];

/** IPv4 offsets the filter reads (relative to the frame): version/IHL, fragment, protocol, ports, QDCOUNT. */
const READ_FIELDS_4 = [14, 20, 21, 23, 34, 35, 36, 37, 46, 47];

function packets(port: number, seed: number): EquivalenceSet['packets'] {
  const fixed = [
    { name: 'IPv4 query', packet: query4(port) },
    { name: 'IPv4 answer (from the port)', packet: query4(port, { srcPort: port, dstPort: CLIENT.port }) },
    { name: 'IPv4 QDCOUNT 0', packet: query4(port, { payload: dnsMessage(0) }) },
    { name: 'IPv4 QDCOUNT 2', packet: query4(port, { payload: dnsMessage(2) }) },
    { name: 'IPv4 QDCOUNT 0x0100', packet: query4(port, { payload: dnsMessage(0x100) }) },
    { name: 'IPv4 to another port', packet: query4(port, { dstPort: port === 5353 ? 5354 : 5353 }) },
    { name: 'IPv4 with options', packet: query4(port, {}, { options: Uint8Array.of(1, 1, 1, 0) }) },
    { name: 'IPv4 with 40 bytes of options', packet: query4(port, {}, { options: new Uint8Array(40).fill(1) }) },
    { name: 'IPv4 IHL 4', packet: query4(port, {}, { versionIhl: 0x44 }) },
    { name: 'IPv4 version 6', packet: query4(port, {}, { versionIhl: 0x65 }) },
    { name: 'IPv4 first fragment', packet: query4(port, {}, { moreFragments: true }) },
    ...ipv4UdpFragments({ ip: { src: CLIENT.ip, dst: SERVER.ip }, udp: { srcPort: CLIENT.port, dstPort: port, payload: dnsMessage() } }, 16).map(
      (packet, i) => ({ name: `IPv4 fragment ${i}`, packet }),
    ),
    { name: 'IPv4 DNS header cut short', packet: query4(port, { payload: dnsMessage().subarray(0, 11) }) },
    { name: 'IPv4 TCP to the port', packet: ipv4TcpFrame({ ip: { src: CLIENT.ip, dst: SERVER.ip }, tcp: { srcPort: CLIENT.port, dstPort: port } }) },
    { name: 'IPv6 query', packet: query6(port) },
    { name: 'IPv6 answer', packet: query6(port, { srcPort: port, dstPort: CLIENT.port }) },
    { name: 'IPv6 QDCOUNT 2', packet: query6(port, { payload: dnsMessage(2) }) },
    { name: 'IPv6 to another port', packet: query6(port, { dstPort: 123 }) },
    { name: 'IPv6 first fragment', packet: query6After(port, IPPROTO_FRAGMENT, fragmentHeader(0, true)) },
    { name: 'IPv6 later fragment', packet: query6After(port, IPPROTO_FRAGMENT, fragmentHeader(3, false)) },
    { name: 'IPv6 hop-by-hop options', packet: query6After(port, IPPROTO_HOPOPTS, [0, 1, 4, 0, 0, 0, 0]) },
    { name: 'IPv6 DNS header cut short', packet: query6(port, { payload: dnsMessage().subarray(0, 10) }) },
    { name: 'Ethernet frame of another type', packet: ethernetFrame(0x88b5, new Uint8Array(64)) },
  ];
  const next = random(seed);
  const randomized = Array.from({ length: 48 }, (_, i) => {
    const base = query4(port, i % 2 === 0 ? {} : { srcPort: port, dstPort: CLIENT.port });
    return { name: `random ${i} (seed ${seed})`, packet: flipOneBit(base, READ_FIELDS_4, next) };
  });
  return [...fixed, ...randomized, { name: `random QDCOUNT (seed ${seed})`, packet: query4(port, { payload: dnsMessage(below(next, 4)) }) }];
}

export const socketDnsFilter: Reference = {
  name: 'socket-dns-filter',
  type: 'socket_filter',
  passVerdict: 0, // dropped
  source: 'socket-dns-filter.c',
  function: 'sock_dns_filter',
  options: DEFAULTS,
  build: (options) => PROGRAMS['socket-dns-filter']!.build(options),
  defines: (options) => ({ PORT: portOf(options) }),
  cases: [
    { name: 'IPv4 DNS query', kind: 'matching', packet: query4(DEFAULTS.port) },
    { name: 'IPv6 DNS query', kind: 'matching', packet: query6(DEFAULTS.port) },
    { name: 'IPv4 UDP to another port', kind: 'non-matching', packet: query4(DEFAULTS.port, { dstPort: 123 }) },
    { name: 'IPv4 TCP', kind: 'non-matching', packet: ipv4TcpFrame({ ip: { src: CLIENT.ip, dst: SERVER.ip }, tcp: { srcPort: CLIENT.port, dstPort: 443 } }) },
  ] satisfies RunCase[],
  equivalence: () => [DEFAULTS, { port: 5353 }].map((options, i) => ({ options, packets: packets(portOf(options), 0x27d4eb2f + i) })),
};
