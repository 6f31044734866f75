/**
 * Frames for fuzzing the programs under BPF_PROG_TEST_RUN, from a seeded
 * generator: well-formed IPv4/UDP (with VLAN tags, IP options, fragments,
 * DNS headers and every kind of UDP checksum), the same with one field
 * broken (truncated at a header boundary, wrong IHL, wrong lengths, flipped
 * bits, another EtherType or protocol), IPv6 with and without a Fragment
 * header, other protocols, and random bytes.
 *
 * A program only acts on packets whose addresses and ports it was built
 * with, which random values almost never hit; each program's vocabulary
 * names those values and the flows it rewrites, and most frames are drawn
 * from them, some as near misses (one field changed).
 */
import {
  arpRequestFrame,
  ETHERNET_HEADER_BYTES,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_VLAN,
  ethernetFrame,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV6_HEADER_BYTES,
  ipv4Packet,
  ipv4TcpFrame,
  ipv6Packet,
  UDP_HEADER_BYTES,
  udpDatagram,
  type UdpSpec,
} from '../../support/packets.js';
import type { Prng } from './prng.js';

/** The addresses and ports of a flow a program acts on; fields left out are anything. */
export interface Flow {
  readonly src?: string;
  readonly dst?: string;
  readonly srcPort?: number;
  readonly dstPort?: number;
}

/** What a program compares packet fields with. */
export interface Vocabulary {
  readonly flows: readonly Flow[];
  readonly addresses: readonly string[];
  readonly ports: readonly number[];
}

export interface FuzzFrame {
  /**
   * How it was made: the family ('ipv4-udp', 'ipv6-fragment', 'random', ...),
   * traits ('+vlan', '+options', '+fragment') and the mutation ('/truncated').
   * Failures name it, and the test counts frames per kind.
   */
  readonly kind: string;
  readonly bytes: Uint8Array;
}

const IPPROTO_ICMP = 1;
const IPPROTO_HOPOPTS = 0;
const IPPROTO_FRAGMENT = 44;
const DNS_HEADER_BYTES = 12;
const IPV4_HEADER_BYTES = 20;
const IPV6_FRAGMENT_HEADER_BYTES = 8;
/** IPv6 addresses from the documentation prefix (RFC 3849). */
const IPV6_ADDRESSES = ['2001:db8::1', '2001:db8::53', '2001:db8:1::2', '::1'];

/** A DNS header (QDCOUNT mostly 1, as in every query) and some message bytes, or fewer bytes than a header. */
function dnsPayload(rng: Prng): Uint8Array {
  if (rng.chance(0.1)) return rng.bytes(rng.int(0, DNS_HEADER_BYTES - 1));
  const payload = rng.bytes(DNS_HEADER_BYTES + rng.int(0, 48));
  const qdcount = rng.weighted<number>([
    [7, 1],
    [1, 0],
    [1, 2],
    [1, rng.int(0, 0xffff)],
  ]);
  payload[4] = qdcount >> 8;
  payload[5] = qdcount & 0xff;
  return payload;
}

function address(rng: Prng, vocabulary: Vocabulary, given: string | undefined): string {
  if (given !== undefined) return given;
  return vocabulary.addresses.length > 0 && rng.chance(0.4) ? rng.pick(vocabulary.addresses) : rng.ipv4();
}

function port(rng: Prng, vocabulary: Vocabulary, given: number | undefined): number {
  if (given !== undefined) return given;
  return vocabulary.ports.length > 0 && rng.chance(0.4) ? rng.pick(vocabulary.ports) : rng.int(0, 0xffff);
}

/** A flow of the vocabulary (sometimes with one field changed to a near miss), or no constraint at all. */
function chooseFlow(rng: Prng, vocabulary: Vocabulary): Flow {
  if (vocabulary.flows.length === 0 || rng.chance(0.35)) return {};
  const flow = rng.pick(vocabulary.flows);
  if (!rng.chance(0.25)) return flow;
  const fields = (Object.keys(flow) as (keyof Flow)[]).filter((key) => flow[key] !== undefined);
  const field = rng.pick(fields);
  const nearMiss = field === 'src' || field === 'dst' ? rng.pick([...vocabulary.addresses, rng.ipv4()]) : rng.pick([...vocabulary.ports, rng.int(0, 0xffff)]);
  return { ...flow, [field]: nearMiss };
}

function udpSpec(rng: Prng, vocabulary: Vocabulary, flow: Flow): UdpSpec {
  return {
    srcPort: port(rng, vocabulary, flow.srcPort),
    dstPort: port(rng, vocabulary, flow.dstPort),
    payload: dnsPayload(rng),
    checksum: rng.weighted<UdpSpec['checksum']>([
      [15, 'compute'],
      [2, 'none'],
      [2, rng.int(1, 0xffff)],
      [1, 0xffff],
    ]),
  };
}

/** Where the headers of a generated IPv4 frame start. */
interface Ipv4Layout {
  readonly ip: number;
  readonly udp: number;
}

/** A well-formed Ethernet/IPv4/UDP frame, now and then VLAN-tagged, with options, fragmented or padded. */
function ipv4UdpFrame(rng: Prng, vocabulary: Vocabulary): { kind: string; bytes: Uint8Array; layout: Ipv4Layout } {
  const flow = chooseFlow(rng, vocabulary);
  const src = address(rng, vocabulary, flow.src);
  const dst = address(rng, vocabulary, flow.dst);
  const vlan = rng.chance(0.06) ? rng.int(1, 4094) : undefined;
  const options = rng.chance(0.1) ? rng.bytes(4 * rng.int(1, 10)) : undefined;
  const fragmented = rng.chance(0.12);
  const datagram = udpDatagram('ipv4', src, dst, udpSpec(rng, vocabulary, flow));
  const packet = ipv4Packet(
    {
      src,
      dst,
      protocol: IPPROTO_UDP,
      ttl: rng.int(1, 255),
      id: rng.int(0, 0xffff),
      tos: rng.chance(0.8) ? 0 : rng.int(0, 255),
      dontFragment: !fragmented && rng.chance(0.5),
      reservedFlag: rng.chance(0.03),
      moreFragments: fragmented && rng.chance(0.6),
      fragmentOffset: fragmented && rng.chance(0.6) ? 8 * rng.int(1, 0x1fff) : 0,
      ...(options && { options }),
    },
    datagram,
  );
  const frame = ethernetFrame(ETHERTYPE_IPV4, packet, vlan === undefined ? {} : { vlan });
  const padded = rng.chance(0.1) ? concatBytes(frame, new Uint8Array(rng.int(1, 24))) : frame;
  const ip = ETHERNET_HEADER_BYTES + (vlan === undefined ? 0 : 4);
  const traits = [vlan !== undefined && '+vlan', options && '+options', fragmented && '+fragment'].filter(Boolean).join('');
  return { kind: `ipv4-udp${traits}`, bytes: padded, layout: { ip, udp: ip + IPV4_HEADER_BYTES + (options?.byteLength ?? 0) } };
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

function writeU16(bytes: Uint8Array, at: number, value: number): void {
  if (at + 1 >= bytes.byteLength) return;
  bytes[at] = value >> 8;
  bytes[at + 1] = value & 0xff;
}

type Mutation = (rng: Prng, frame: Uint8Array, layout: Ipv4Layout) => Uint8Array;

/** One broken field each; the IPv4 header checksum is not fixed up, as a corrupted packet would not have it either. */
const MUTATIONS: Readonly<Record<string, Mutation>> = {
  /** Cut at (or one byte around) the end of a header or of a field the programs read. */
  truncated(rng, frame, { ip, udp }) {
    const boundaries = [ETHERNET_HEADER_BYTES, ip, ip + 10, ip + IPV4_HEADER_BYTES, udp, udp + 2, udp + 4, udp + UDP_HEADER_BYTES, udp + UDP_HEADER_BYTES + DNS_HEADER_BYTES];
    const cut = Math.min(Math.max(rng.pick(boundaries) + rng.int(-1, 1), ETHERNET_HEADER_BYTES), frame.byteLength);
    return frame.slice(0, cut);
  },
  ihl(rng, frame, { ip }) {
    frame[ip] = rng.chance(0.7) ? 0x40 | rng.int(0, 15) : rng.int(0, 255);
    return frame;
  },
  'total-length'(rng, frame, { ip }) {
    writeU16(frame, ip + 2, rng.int(0, 0xffff));
    return frame;
  },
  'udp-length'(rng, frame, { udp }) {
    writeU16(frame, udp + 4, rng.pick([0, 1, 7, 8, rng.int(0, 0xffff)]));
    return frame;
  },
  'bit-flip'(rng, frame, { udp }) {
    const span = Math.min(frame.byteLength, udp + UDP_HEADER_BYTES + DNS_HEADER_BYTES);
    for (let flips = rng.int(1, 3); flips > 0; flips--) frame[rng.int(0, span - 1)]! ^= 1 << rng.int(0, 7);
    return frame;
  },
  ethertype(rng, frame) {
    writeU16(frame, 12, rng.pick([ETHERTYPE_IPV6, ETHERTYPE_VLAN, 0x0806, 0x88a8, 0x05ff, rng.int(0, 0xffff)]));
    return frame;
  },
  protocol(rng, frame, { ip }) {
    frame[ip + 9] = rng.pick([IPPROTO_TCP, IPPROTO_ICMP, IPPROTO_FRAGMENT, IPPROTO_UDP + 1, rng.int(0, 255)]);
    return frame;
  },
};
const MUTATION_NAMES = Object.keys(MUTATIONS);

/** IPv6 with UDP straight after the fixed header, after a Fragment header (first or later), or after a Hop-by-Hop header. */
function ipv6Frame(rng: Prng, vocabulary: Vocabulary): FuzzFrame {
  const flow = chooseFlow(rng, vocabulary);
  const src = rng.pick(IPV6_ADDRESSES);
  const dst = rng.pick(IPV6_ADDRESSES);
  const datagram = udpDatagram('ipv6', src, dst, udpSpec(rng, vocabulary, flow));
  const shape = rng.weighted<'udp' | 'fragment' | 'hop-by-hop' | 'tcp'>([
    [5, 'udp'],
    [3, 'fragment'],
    [1, 'hop-by-hop'],
    [1, 'tcp'],
  ]);
  let nextHeader: number = IPPROTO_UDP;
  let payload = datagram;
  if (shape === 'fragment') {
    const header = new Uint8Array(IPV6_FRAGMENT_HEADER_BYTES);
    header[0] = rng.chance(0.9) ? IPPROTO_UDP : rng.int(0, 255);
    writeU16(header, 2, (rng.chance(0.6) ? 0 : rng.int(1, 0x1fff) << 3) | (rng.chance(0.5) ? 1 : 0));
    header.set(rng.bytes(4), 4);
    nextHeader = IPPROTO_FRAGMENT;
    payload = concatBytes(header, datagram);
  } else if (shape === 'hop-by-hop') {
    // Next header UDP, length 0 (8 bytes), a PadN option filling the rest.
    nextHeader = IPPROTO_HOPOPTS;
    payload = concatBytes(Uint8Array.of(IPPROTO_UDP, 0, 1, 4, 0, 0, 0, 0), datagram);
  } else if (shape === 'tcp') {
    nextHeader = IPPROTO_TCP;
  }
  const frame = ethernetFrame(ETHERTYPE_IPV6, ipv6Packet({ src, dst, nextHeader }, payload));
  if (rng.chance(0.2)) {
    const cut = ETHERNET_HEADER_BYTES + IPV6_HEADER_BYTES + rng.int(-2, 30);
    return { kind: `ipv6-${shape}/truncated`, bytes: frame.slice(0, Math.min(Math.max(cut, ETHERNET_HEADER_BYTES), frame.byteLength)) };
  }
  return { kind: `ipv6-${shape}`, bytes: frame };
}

/** TCP to or from the same ports, ICMP, ARP, or some other IP protocol. */
function otherProtocolFrame(rng: Prng, vocabulary: Vocabulary): FuzzFrame {
  const flow = chooseFlow(rng, vocabulary);
  const src = address(rng, vocabulary, flow.src);
  const dst = address(rng, vocabulary, flow.dst);
  switch (rng.int(0, 3)) {
    case 0:
      return {
        kind: 'ipv4-tcp',
        bytes: ipv4TcpFrame({ ip: { src, dst }, tcp: { srcPort: port(rng, vocabulary, flow.srcPort), dstPort: port(rng, vocabulary, flow.dstPort), payload: dnsPayload(rng) } }),
      };
    case 1:
      return { kind: 'ipv4-icmp', bytes: ethernetFrame(ETHERTYPE_IPV4, ipv4Packet({ src, dst, protocol: IPPROTO_ICMP }, rng.bytes(rng.int(8, 64)))) };
    case 2:
      return { kind: 'arp', bytes: arpRequestFrame({ senderIp: src, targetIp: dst }) };
    default: {
      const protocol = rng.pick([IPPROTO_HOPOPTS, 47, 50, 132, 253, rng.int(0, 255)].filter((p) => p !== IPPROTO_UDP));
      return { kind: 'ipv4-other', bytes: ethernetFrame(ETHERTYPE_IPV4, ipv4Packet({ src, dst, protocol }, rng.bytes(rng.int(0, 64)))) };
    }
  }
}

/** Random bytes, often with an IPv4 or IPv6 EtherType (and IPv4/UDP's first bytes) so that parsing gets past the first check. */
function randomFrame(rng: Prng): FuzzFrame {
  const bytes = rng.bytes(rng.int(ETHERNET_HEADER_BYTES, 160));
  const shape = rng.int(0, 3);
  if (shape >= 1) writeU16(bytes, 12, shape === 3 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
  if (shape === 2 && bytes.byteLength > 23) {
    bytes[14] = 0x45;
    bytes[23] = IPPROTO_UDP;
  }
  return { kind: 'random', bytes };
}

/** One frame for a program with this vocabulary. */
export function fuzzFrame(rng: Prng, vocabulary: Vocabulary): FuzzFrame {
  const family = rng.weighted<'ipv4' | 'mutated' | 'ipv6' | 'other' | 'random'>([
    [45, 'ipv4'],
    [25, 'mutated'],
    [12, 'ipv6'],
    [10, 'other'],
    [8, 'random'],
  ]);
  switch (family) {
    case 'ipv4': {
      const { kind, bytes } = ipv4UdpFrame(rng, vocabulary);
      return { kind, bytes };
    }
    case 'mutated': {
      const { kind, bytes, layout } = ipv4UdpFrame(rng, vocabulary);
      const name = rng.pick(MUTATION_NAMES);
      return { kind: `${kind}/${name}`, bytes: MUTATIONS[name]!(rng, bytes, layout) };
    }
    case 'ipv6':
      return ipv6Frame(rng, vocabulary);
    case 'other':
      return otherProtocolFrame(rng, vocabulary);
    case 'random':
      return randomFrame(rng);
  }
}

/** `count` frames; the same ones for the same generator state. */
export function* fuzzFrames(rng: Prng, vocabulary: Vocabulary, count: number): Generator<FuzzFrame> {
  for (let i = 0; i < count; i++) yield fuzzFrame(rng, vocabulary);
}

/** Every prefix of `frame` from the Ethernet header's end to its full length: truncation at each header boundary and everywhere between. */
export function* everyTruncation(kind: string, frame: Uint8Array): Generator<FuzzFrame> {
  for (let length = ETHERNET_HEADER_BYTES; length < frame.byteLength; length++) yield { kind: `${kind}/every-cut`, bytes: frame.slice(0, length) };
}
