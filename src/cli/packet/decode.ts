/**
 * Field-by-field decoding of an Ethernet frame for display: Ethernet
 * (with 802.1Q/802.1ad tags), IPv4 and UDP in full, with the IPv4 header
 * checksum and the UDP checksum verified; IPv6, ARP and TCP far enough to
 * name them and their addresses. Whatever follows the last header decoded
 * is the payload.
 */
import { formatIpv4, formatIpv6, formatMac } from './addresses.js';
import { checksumVerifies, ipv4PseudoHeaderSum, ipv6PseudoHeaderSum } from './checksum.js';

/** `absent`: a UDP checksum of 0 over IPv4, which means the sender computed none (RFC 768). */
export type ChecksumState = 'valid' | 'invalid' | 'absent';

export interface Field {
  /** Unique within its layer, so that fields of two packets pair up by name. */
  readonly name: string;
  readonly value: string;
  /** For checksum fields: whether the bytes it covers verify. */
  readonly checksum?: ChecksumState;
}

export interface Layer {
  readonly name: string;
  /** Offset of the header in the frame. */
  readonly offset: number;
  readonly fields: readonly Field[];
  /** Why decoding stopped inside or after this layer, when it did for a reason other than reaching the payload. */
  readonly note?: string;
}

export interface DecodedPacket {
  readonly length: number;
  readonly layers: readonly Layer[];
  /** Offset of the first byte after the last decoded header. */
  readonly payloadOffset: number;
}

const ETHERNET_HEADER = 14;
const VLAN_TAG = 4;
const IPV4_MIN_HEADER = 20;
const IPV6_HEADER = 40;
const UDP_HEADER = 8;
const TCP_MIN_HEADER = 20;
const ARP_ETHERNET_IPV4 = 28;

const ETHERTYPES: ReadonlyMap<number, string> = new Map([
  [0x0800, 'IPv4'],
  [0x0806, 'ARP'],
  [0x86dd, 'IPv6'],
  [0x8100, '802.1Q VLAN'],
  [0x88a8, '802.1ad VLAN'],
  [0x88cc, 'LLDP'],
  [0x8847, 'MPLS'],
]);
const IP_PROTOCOLS: ReadonlyMap<number, string> = new Map([
  [1, 'ICMP'],
  [2, 'IGMP'],
  [6, 'TCP'],
  [17, 'UDP'],
  [41, 'IPv6'],
  [47, 'GRE'],
  [50, 'ESP'],
  [58, 'ICMPv6'],
  [132, 'SCTP'],
]);
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

const hex16 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;
const named = (n: number, names: ReadonlyMap<number, string>, format: (n: number) => string = String): string =>
  names.has(n) ? `${format(n)} (${names.get(n)})` : format(n);

/** Big-endian reads within the frame; callers check lengths first. */
class Frame {
  readonly #view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u8(at: number): number {
    return this.#view.getUint8(at);
  }
  u16(at: number): number {
    return this.#view.getUint16(at, false);
  }
  u32(at: number): number {
    return this.#view.getUint32(at, false);
  }
  slice(at: number, length: number): Uint8Array {
    return this.bytes.subarray(at, at + length);
  }
}

/** What the network layer hands to the transport layer. */
interface TransportContext {
  readonly protocol: number;
  readonly offset: number;
  /** End of the network layer's payload (its length field, within the frame). */
  readonly end: number;
  readonly pseudoHeaderSum: (protocol: number, length: number) => number;
  /** Over IPv4 a zero UDP checksum means none; over IPv6 it is invalid. */
  readonly zeroChecksumMeansNone: boolean;
}

interface Step {
  readonly layer: Layer;
  readonly next: number;
  readonly transport?: TransportContext;
  readonly etherType?: number;
}

function truncated(name: string, offset: number, available: number, needed: number): Layer {
  return { name, offset, fields: [], note: `truncated: ${available} of ${needed} header bytes` };
}

function ethernet(f: Frame): Step {
  return {
    layer: {
      name: 'Ethernet',
      offset: 0,
      fields: [
        { name: 'destination', value: formatMac(f.slice(0, 6)) },
        { name: 'source', value: formatMac(f.slice(6, 6)) },
        { name: 'type', value: named(f.u16(12), ETHERTYPES, hex16) },
      ],
    },
    next: ETHERNET_HEADER,
    etherType: f.u16(12),
  };
}

function vlan(f: Frame, at: number, tpid: number): Step {
  const tci = f.u16(at);
  return {
    layer: {
      name: ETHERTYPES.get(tpid)!,
      offset: at - 2,
      fields: [
        { name: 'priority', value: String(tci >>> 13) },
        { name: 'drop eligible', value: String((tci >>> 12) & 1) },
        { name: 'vlan id', value: String(tci & 0xfff) },
        { name: 'type', value: named(f.u16(at + 2), ETHERTYPES, hex16) },
      ],
    },
    next: at + VLAN_TAG,
    etherType: f.u16(at + 2),
  };
}

function ipv4Flags(flags: number): string {
  const names = [flags & 4 ? 'reserved' : '', flags & 2 ? 'DF' : '', flags & 1 ? 'MF' : ''].filter(Boolean);
  return names.length > 0 ? names.join(' ') : 'none';
}

function ipv4(f: Frame, at: number): Step {
  const ihl = f.u8(at) & 0x0f;
  const headerLength = ihl * 4;
  const version = f.u8(at) >>> 4;
  const totalLength = f.u16(at + 2);
  const flagsOffset = f.u16(at + 6);
  const protocol = f.u8(at + 9);
  const fragmentOffset = flagsOffset & 0x1fff;
  const available = f.bytes.length - at;
  const fields: Field[] = [
    { name: 'version', value: String(version) },
    { name: 'header length', value: `${ihl} (${headerLength} bytes)` },
    { name: 'dscp', value: String(f.u8(at + 1) >>> 2) },
    { name: 'ecn', value: String(f.u8(at + 1) & 3) },
    { name: 'total length', value: String(totalLength) },
    { name: 'identification', value: hex16(f.u16(at + 4)) },
    { name: 'flags', value: ipv4Flags(flagsOffset >>> 13) },
    { name: 'fragment offset', value: `${fragmentOffset} (${fragmentOffset * 8} bytes)` },
    { name: 'ttl', value: String(f.u8(at + 8)) },
    { name: 'protocol', value: named(protocol, IP_PROTOCOLS) },
  ];
  const headerFits = ihl >= 5 && headerLength <= available;
  fields.push({
    name: 'header checksum',
    value: hex16(f.u16(at + 10)),
    checksum: headerFits && checksumVerifies(f.slice(at, headerLength)) ? 'valid' : 'invalid',
  });
  fields.push({ name: 'source', value: formatIpv4(f.slice(at + 12, 4)) }, { name: 'destination', value: formatIpv4(f.slice(at + 16, 4)) });
  if (headerFits && ihl > 5) fields.push({ name: 'options', value: `${headerLength - IPV4_MIN_HEADER} bytes` });

  const layer = (note?: string): Layer => ({ name: 'IPv4', offset: at, fields, ...(note ? { note } : {}) });
  if (version !== 4) return { layer: layer(`version ${version} in an IPv4 frame: not decoded further`), next: at + IPV4_MIN_HEADER };
  if (ihl < 5) return { layer: layer(`header length ${ihl} words is below the minimum 5: not decoded further`), next: at + IPV4_MIN_HEADER };
  if (headerLength > available) return { layer: layer(`truncated: ${available} of ${headerLength} header bytes`), next: f.bytes.length };
  if (totalLength < headerLength) return { layer: layer(`total length ${totalLength} is shorter than the header: not decoded further`), next: at + headerLength };
  if (fragmentOffset > 0) return { layer: layer('a fragment after the first: its payload has no transport header'), next: at + headerLength };
  const source = f.slice(at + 12, 4);
  const destination = f.slice(at + 16, 4);
  return {
    layer: layer(totalLength > available ? `truncated: total length ${totalLength} but ${available} bytes in the frame` : undefined),
    next: at + headerLength,
    transport: {
      protocol,
      offset: at + headerLength,
      end: at + Math.min(totalLength, available),
      pseudoHeaderSum: (proto, length) => ipv4PseudoHeaderSum(source, destination, proto, length),
      zeroChecksumMeansNone: true,
    },
  };
}

function ipv6(f: Frame, at: number): Step {
  const first = f.u32(at);
  const payloadLength = f.u16(at + 4);
  const nextHeader = f.u8(at + 6);
  const source = f.slice(at + 8, 16);
  const destination = f.slice(at + 24, 16);
  const available = f.bytes.length - at - IPV6_HEADER;
  const fields: Field[] = [
    { name: 'version', value: String(first >>> 28) },
    { name: 'traffic class', value: String((first >>> 20) & 0xff) },
    { name: 'flow label', value: `0x${(first & 0xfffff).toString(16).padStart(5, '0')}` },
    { name: 'payload length', value: String(payloadLength) },
    { name: 'next header', value: named(nextHeader, IP_PROTOCOLS) },
    { name: 'hop limit', value: String(f.u8(at + 7)) },
    { name: 'source', value: formatIpv6(source) },
    { name: 'destination', value: formatIpv6(destination) },
  ];
  const note = payloadLength > available ? `truncated: payload length ${payloadLength} but ${available} bytes in the frame` : undefined;
  return {
    layer: { name: 'IPv6', offset: at, fields, ...(note ? { note } : {}) },
    next: at + IPV6_HEADER,
    transport: {
      protocol: nextHeader,
      offset: at + IPV6_HEADER,
      end: at + IPV6_HEADER + Math.min(payloadLength, available),
      pseudoHeaderSum: (proto, length) => ipv6PseudoHeaderSum(source, destination, proto, length),
      zeroChecksumMeansNone: false,
    },
  };
}

function arp(f: Frame, at: number): Step {
  const operation = f.u16(at + 6);
  const fields: Field[] = [{ name: 'operation', value: operation === 1 ? '1 (request)' : operation === 2 ? '2 (reply)' : String(operation) }];
  // Only the Ethernet/IPv4 form, which is all ARP in practice, has known address sizes.
  const ethernetIpv4 = f.u16(at) === 1 && f.u16(at + 2) === 0x0800 && f.u8(at + 4) === 6 && f.u8(at + 5) === 4;
  if (!ethernetIpv4 || f.bytes.length - at < ARP_ETHERNET_IPV4) {
    return { layer: { name: 'ARP', offset: at, fields, note: 'not Ethernet/IPv4 ARP, or cut short: addresses not decoded' }, next: at + 8 };
  }
  fields.push(
    { name: 'sender mac', value: formatMac(f.slice(at + 8, 6)) },
    { name: 'sender ip', value: formatIpv4(f.slice(at + 14, 4)) },
    { name: 'target mac', value: formatMac(f.slice(at + 18, 6)) },
    { name: 'target ip', value: formatIpv4(f.slice(at + 24, 4)) },
  );
  return { layer: { name: 'ARP', offset: at, fields }, next: at + ARP_ETHERNET_IPV4 };
}

function udp(f: Frame, t: TransportContext): Step {
  const at = t.offset;
  const length = f.u16(at + 4);
  const checksum = f.u16(at + 6);
  let state: ChecksumState;
  let note: string | undefined;
  if (checksum === 0 && t.zeroChecksumMeansNone) state = 'absent';
  else if (length < UDP_HEADER || at + length > t.end) {
    state = 'invalid';
    note = `length ${length} does not fit the ${t.end - at} bytes the IP header gives the datagram: checksum not verifiable`;
  } else state = checksumVerifies(f.slice(at, length), t.pseudoHeaderSum(IPPROTO_UDP, length)) ? 'valid' : 'invalid';
  return {
    layer: {
      name: 'UDP',
      offset: at,
      fields: [
        { name: 'source port', value: String(f.u16(at)) },
        { name: 'destination port', value: String(f.u16(at + 2)) },
        { name: 'length', value: String(length) },
        { name: 'checksum', value: state === 'absent' ? `${hex16(0)} (none)` : hex16(checksum), checksum: state },
      ],
      ...(note ? { note } : {}),
    },
    next: at + UDP_HEADER,
  };
}

const TCP_FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];

function tcp(f: Frame, t: TransportContext): Step {
  const at = t.offset;
  const dataOffset = (f.u8(at + 12) >>> 4) * 4;
  const flags = TCP_FLAGS.filter((_, bit) => f.u8(at + 13) & (1 << bit));
  return {
    layer: {
      name: 'TCP',
      offset: at,
      fields: [
        { name: 'source port', value: String(f.u16(at)) },
        { name: 'destination port', value: String(f.u16(at + 2)) },
        { name: 'flags', value: flags.length > 0 ? flags.join(' ') : 'none' },
      ],
    },
    next: at + Math.max(dataOffset, TCP_MIN_HEADER),
  };
}

/** Decode as much of an Ethernet frame as bpfgen knows. */
export function decodePacket(bytes: Uint8Array): DecodedPacket {
  const f = new Frame(bytes);
  const layers: Layer[] = [];
  const done = (payloadOffset: number): DecodedPacket => ({ length: bytes.length, layers, payloadOffset: Math.min(payloadOffset, bytes.length) });
  const fits = (name: string, at: number, needed: number): boolean => {
    if (bytes.length - at >= needed) return true;
    layers.push(truncated(name, at, Math.max(0, bytes.length - at), needed));
    return false;
  };

  if (!fits('Ethernet', 0, ETHERNET_HEADER)) return done(0);
  let step = ethernet(f);
  layers.push(step.layer);
  while (step.etherType === 0x8100 || step.etherType === 0x88a8) {
    if (!fits(ETHERTYPES.get(step.etherType)!, step.next, VLAN_TAG)) return done(step.next);
    step = vlan(f, step.next, step.etherType);
    layers.push(step.layer);
  }
  const at = step.next;
  switch (step.etherType) {
    case 0x0800:
      if (!fits('IPv4', at, IPV4_MIN_HEADER)) return done(at);
      step = ipv4(f, at);
      break;
    case 0x86dd:
      if (!fits('IPv6', at, IPV6_HEADER)) return done(at);
      step = ipv6(f, at);
      break;
    case 0x0806:
      if (!fits('ARP', at, 8)) return done(at);
      step = arp(f, at);
      break;
    default:
      return done(at);
  }
  layers.push(step.layer);
  const transport = step.transport;
  if (!transport) return done(step.next);
  if (transport.protocol === IPPROTO_UDP) {
    if (!fits('UDP', transport.offset, UDP_HEADER)) return done(transport.offset);
    step = udp(f, transport);
  } else if (transport.protocol === IPPROTO_TCP) {
    if (!fits('TCP', transport.offset, TCP_MIN_HEADER)) return done(transport.offset);
    step = tcp(f, transport);
  } else {
    return done(transport.offset);
  }
  layers.push(step.layer);
  return done(step.next);
}
