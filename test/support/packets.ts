/**
 * An Ethernet frame builder and parser for tests, written independently of
 * src/: every field is laid out by hand from the RFCs, and checksums are the
 * RFC 1071 ones'-complement sum computed by plain full summation over the
 * whole header or datagram (never incrementally), so that they can judge
 * programs that update checksums incrementally.
 */

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export const ETHERNET_HEADER_BYTES = 14;
export const IPV4_MIN_HEADER_BYTES = 20;
export const IPV6_HEADER_BYTES = 40;
export const UDP_HEADER_BYTES = 8;
export const TCP_HEADER_BYTES = 20;

const DEFAULT_DST_MAC = '02:00:00:00:00:01';
const DEFAULT_SRC_MAC = '02:00:00:00:00:02';

// ---------------------------------------------------------------- checksums

function concat(...chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/**
 * RFC 1071 sum: add every big-endian 16-bit word of the concatenated chunks
 * (an odd last byte is padded with a zero byte) as an ordinary integer, then
 * fold the carries back in. The result is in 0..0xffff.
 */
export function onesComplementSum(...chunks: readonly Uint8Array[]): number {
  const bytes = concat(...chunks);
  let total = 0;
  for (let i = 0; i < bytes.byteLength; i += 2) total += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (total > 0xffff) total = (total & 0xffff) + Math.floor(total / 0x10000);
  return total;
}

/** The Internet checksum of the concatenated chunks: the complement of their ones'-complement sum. */
export function internetChecksum(...chunks: readonly Uint8Array[]): number {
  return ~onesComplementSum(...chunks) & 0xffff;
}

export function ipv4Bytes(address: string): Uint8Array {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new TypeError(`'${address}' is not an IPv4 address`);
  return Uint8Array.from(parts);
}

export function ipv6Bytes(address: string): Uint8Array {
  const [head, tail, extra] = address.split('::');
  if (extra !== undefined) throw new TypeError(`'${address}' has more than one '::'`);
  const groups = (text: string | undefined): number[] => (text ? text.split(':').map((g) => parseInt(g, 16)) : []);
  const left = groups(head);
  const right = groups(tail);
  const words = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  if (words.length !== 8 || words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffff)) throw new TypeError(`'${address}' is not an IPv6 address`);
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

function macBytes(address: string): Uint8Array {
  const parts = address.split(':').map((p) => parseInt(p, 16));
  if (parts.length !== 6 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new TypeError(`'${address}' is not a MAC address`);
  return Uint8Array.from(parts);
}

function u16(value: number): Uint8Array {
  return Uint8Array.of((value >> 8) & 0xff, value & 0xff);
}

function u32(value: number): Uint8Array {
  return Uint8Array.of((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

function readU16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

/** The IPv4 pseudo-header of RFC 768: source, destination, zero, protocol, length. */
function ipv4PseudoHeader(src: string, dst: string, protocol: number, length: number): Uint8Array {
  return concat(ipv4Bytes(src), ipv4Bytes(dst), Uint8Array.of(0, protocol), u16(length));
}

/** The IPv6 pseudo-header of RFC 8200 section 8.1. */
function ipv6PseudoHeader(src: string, dst: string, protocol: number, length: number): Uint8Array {
  return concat(ipv6Bytes(src), ipv6Bytes(dst), u32(length), Uint8Array.of(0, 0, 0, protocol));
}

/** A copy of `bytes` with the 16-bit field at `at` set to zero, as checksums are computed. */
function withZeroField(bytes: Uint8Array, at: number): Uint8Array {
  const copy = bytes.slice();
  copy[at] = 0;
  copy[at + 1] = 0;
  return copy;
}

/** The header checksum an IPv4 header (options included) should carry, whatever its field holds now. */
export function ipv4HeaderChecksum(header: Uint8Array): number {
  return internetChecksum(withZeroField(header, 10));
}

/**
 * The checksum a UDP datagram (header and payload) between two addresses
 * should carry, whatever its field holds now. A computed 0 is sent as 0xffff,
 * because 0 means "no checksum" (RFC 768).
 */
export function udpChecksum(family: 'ipv4' | 'ipv6', src: string, dst: string, datagram: Uint8Array): number {
  const pseudo = family === 'ipv4' ? ipv4PseudoHeader(src, dst, IPPROTO_UDP, datagram.byteLength) : ipv6PseudoHeader(src, dst, IPPROTO_UDP, datagram.byteLength);
  const sum = internetChecksum(pseudo, withZeroField(datagram, 6));
  return sum === 0 ? 0xffff : sum;
}

/** The checksum a TCP segment should carry (the field is at offset 16). */
export function tcpChecksumIpv4(src: string, dst: string, segment: Uint8Array): number {
  return internetChecksum(ipv4PseudoHeader(src, dst, IPPROTO_TCP, segment.byteLength), withZeroField(segment, 16));
}

// ---------------------------------------------------------------- builders

export interface EthernetSpec {
  readonly dst?: string;
  readonly src?: string;
  /** An 802.1Q tag (TPID 0x8100) with this VLAN id, inserted before the EtherType. */
  readonly vlan?: number;
}

export function ethernetFrame(etherType: number, payload: Uint8Array, eth: EthernetSpec = {}): Uint8Array {
  const tag = eth.vlan === undefined ? new Uint8Array(0) : concat(u16(ETHERTYPE_VLAN), u16(eth.vlan & 0x0fff));
  return concat(macBytes(eth.dst ?? DEFAULT_DST_MAC), macBytes(eth.src ?? DEFAULT_SRC_MAC), tag, u16(etherType), payload);
}

export interface Ipv4Spec {
  readonly src: string;
  readonly dst: string;
  readonly protocol?: number;
  readonly ttl?: number;
  readonly id?: number;
  readonly tos?: number;
  readonly dontFragment?: boolean;
  readonly moreFragments?: boolean;
  /** The reserved ("evil") flag bit, 0x8000 of the flags/offset field. */
  readonly reservedFlag?: boolean;
  /** Fragment offset in bytes; must be a multiple of 8. */
  readonly fragmentOffset?: number;
  /** Option bytes, a multiple of 4 long (pad with 0x01 NOP / 0x00 EOL). */
  readonly options?: Uint8Array;
  /** Overrides the version/IHL byte, for malformed headers. */
  readonly versionIhl?: number;
  /** Overrides the total length. */
  readonly totalLength?: number;
  /** Overrides the computed header checksum. */
  readonly checksum?: number;
}

export function ipv4Packet(ip: Ipv4Spec, payload: Uint8Array): Uint8Array {
  const options = ip.options ?? new Uint8Array(0);
  if (options.byteLength % 4 !== 0) throw new RangeError(`IPv4 options must be a multiple of 4 bytes, got ${options.byteLength}`);
  const offset = ip.fragmentOffset ?? 0;
  if (offset % 8 !== 0) throw new RangeError(`fragment offset ${offset} is not a multiple of 8 bytes`);
  const headerBytes = IPV4_MIN_HEADER_BYTES + options.byteLength;
  const flags = (ip.reservedFlag ? 0x8000 : 0) | (ip.dontFragment ? 0x4000 : 0) | (ip.moreFragments ? 0x2000 : 0);
  const header = concat(
    Uint8Array.of(ip.versionIhl ?? 0x40 | (headerBytes / 4), ip.tos ?? 0),
    u16(ip.totalLength ?? headerBytes + payload.byteLength),
    u16(ip.id ?? 0x1234),
    u16(flags | (offset / 8)),
    Uint8Array.of(ip.ttl ?? 64, ip.protocol ?? IPPROTO_UDP),
    u16(0),
    ipv4Bytes(ip.src),
    ipv4Bytes(ip.dst),
    options,
  );
  header.set(u16(ip.checksum ?? ipv4HeaderChecksum(header)), 10);
  return concat(header, payload);
}

export function ipv6Packet(ip: { readonly src: string; readonly dst: string; readonly nextHeader: number; readonly hopLimit?: number }, payload: Uint8Array): Uint8Array {
  return concat(u32(0x60000000), u16(payload.byteLength), Uint8Array.of(ip.nextHeader, ip.hopLimit ?? 64), ipv6Bytes(ip.src), ipv6Bytes(ip.dst), payload);
}

export interface UdpSpec {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload?: Uint8Array;
  /** 'compute' (default): the correct checksum; 'none': 0, "no checksum"; a number: that value. */
  readonly checksum?: 'compute' | 'none' | number;
}

/** A UDP datagram (header and payload) whose checksum covers the pseudo-header of src and dst. */
export function udpDatagram(family: 'ipv4' | 'ipv6', src: string, dst: string, udp: UdpSpec): Uint8Array {
  const payload = udp.payload ?? new Uint8Array(0);
  const datagram = concat(u16(udp.srcPort), u16(udp.dstPort), u16(UDP_HEADER_BYTES + payload.byteLength), u16(0), payload);
  const checksum = udp.checksum ?? 'compute';
  datagram.set(u16(checksum === 'compute' ? udpChecksum(family, src, dst, datagram) : checksum === 'none' ? 0 : checksum), 6);
  return datagram;
}

export interface Ipv4UdpFrameSpec {
  readonly eth?: EthernetSpec;
  readonly ip: Omit<Ipv4Spec, 'protocol'>;
  readonly udp: UdpSpec;
  /** Zero bytes appended after the IP packet (Ethernet padding to a minimum frame size). */
  readonly trailer?: number;
}

export function ipv4UdpFrame(spec: Ipv4UdpFrameSpec): Uint8Array {
  const datagram = udpDatagram('ipv4', spec.ip.src, spec.ip.dst, spec.udp);
  return concat(ethernetFrame(ETHERTYPE_IPV4, ipv4Packet({ ...spec.ip, protocol: IPPROTO_UDP }, datagram), spec.eth), new Uint8Array(spec.trailer ?? 0));
}

export function ipv6UdpFrame(spec: { readonly eth?: EthernetSpec; readonly ip: { readonly src: string; readonly dst: string }; readonly udp: UdpSpec }): Uint8Array {
  const datagram = udpDatagram('ipv6', spec.ip.src, spec.ip.dst, spec.udp);
  return ethernetFrame(ETHERTYPE_IPV6, ipv6Packet({ ...spec.ip, nextHeader: IPPROTO_UDP }, datagram), spec.eth);
}

export interface TcpSpec {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq?: number;
  readonly ack?: number;
  /** Flag bits of byte 13 (0x02 SYN, 0x10 ACK, ...). */
  readonly flags?: number;
  readonly payload?: Uint8Array;
}

export function ipv4TcpFrame(spec: { readonly eth?: EthernetSpec; readonly ip: Omit<Ipv4Spec, 'protocol'>; readonly tcp: TcpSpec }): Uint8Array {
  const { tcp, ip } = spec;
  const segment = concat(
    u16(tcp.srcPort),
    u16(tcp.dstPort),
    u32(tcp.seq ?? 1),
    u32(tcp.ack ?? 0),
    Uint8Array.of((TCP_HEADER_BYTES / 4) << 4, tcp.flags ?? 0x02),
    u16(65535),
    u16(0),
    u16(0),
    tcp.payload ?? new Uint8Array(0),
  );
  segment.set(u16(tcpChecksumIpv4(ip.src, ip.dst, segment)), 16);
  return ethernetFrame(ETHERTYPE_IPV4, ipv4Packet({ ...ip, protocol: IPPROTO_TCP }, segment), spec.eth);
}

/** An ARP request (RFC 826) for Ethernet/IPv4: who has `targetIp`, tell `senderIp`. */
export function arpRequestFrame(spec: { readonly senderMac?: string; readonly senderIp: string; readonly targetIp: string }): Uint8Array {
  const senderMac = spec.senderMac ?? DEFAULT_SRC_MAC;
  const body = concat(u16(1), u16(ETHERTYPE_IPV4), Uint8Array.of(6, 4), u16(1), macBytes(senderMac), ipv4Bytes(spec.senderIp), new Uint8Array(6), ipv4Bytes(spec.targetIp));
  return ethernetFrame(ETHERTYPE_ARP, body, { dst: 'ff:ff:ff:ff:ff:ff', src: senderMac });
}

/**
 * Split a UDP datagram into IPv4 fragments carrying at most `fragmentBytes`
 * bytes of it each (a multiple of 8), as frames.
 */
export function ipv4UdpFragments(spec: { readonly ip: Omit<Ipv4Spec, 'protocol' | 'fragmentOffset' | 'moreFragments'>; readonly udp: UdpSpec }, fragmentBytes: number): Uint8Array[] {
  if (fragmentBytes <= 0 || fragmentBytes % 8 !== 0) throw new RangeError(`fragment size ${fragmentBytes} is not a positive multiple of 8`);
  const datagram = udpDatagram('ipv4', spec.ip.src, spec.ip.dst, spec.udp);
  const frames: Uint8Array[] = [];
  for (let offset = 0; offset < datagram.byteLength; offset += fragmentBytes) {
    const piece = datagram.subarray(offset, offset + fragmentBytes);
    const moreFragments = offset + fragmentBytes < datagram.byteLength;
    frames.push(ethernetFrame(ETHERTYPE_IPV4, ipv4Packet({ ...spec.ip, protocol: IPPROTO_UDP, fragmentOffset: offset, moreFragments }, piece)));
  }
  return frames;
}

// ---------------------------------------------------------------- parser

export interface ParsedIpv4 {
  /** Offset of the IPv4 header in the frame. */
  readonly at: number;
  readonly headerBytes: number;
  readonly totalLength: number;
  readonly protocol: number;
  readonly src: string;
  readonly dst: string;
  readonly moreFragments: boolean;
  /** In bytes. */
  readonly fragmentOffset: number;
  readonly checksum: number;
  readonly checksumValid: boolean;
}

export interface ParsedUdp {
  /** Offset of the UDP header in the frame. */
  readonly at: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly length: number;
  readonly checksum: number;
  /** The checksum a full recomputation gives (0xffff for a computed 0). */
  readonly expectedChecksum: number;
  /** 'absent' when the field is 0 ("no checksum"). */
  readonly checksumValid: boolean | 'absent';
}

export interface ParsedFrame {
  readonly etherType: number;
  readonly vlan?: number;
  readonly ipv4?: ParsedIpv4;
  readonly udp?: ParsedUdp;
}

/** A frame too short for, or inconsistent with, the header it claims to carry. */
export class PacketParseError extends Error {
  constructor(field: string, detail: string) {
    super(`${field}: ${detail}`);
    this.name = 'PacketParseError';
  }
}

function need(frame: Uint8Array, end: number, what: string): void {
  if (frame.byteLength < end) throw new PacketParseError(what, `the frame has ${frame.byteLength} bytes, the ${what} needs ${end}`);
}

function ipv4Text(bytes: Uint8Array): string {
  return Array.from(bytes).join('.');
}

/**
 * Parse Ethernet (with one optional 802.1Q tag), IPv4 and UDP, recomputing
 * both checksums. The UDP checksum of a fragment cannot be judged from one
 * fragment, so a fragment has no `udp`.
 */
export function parseFrame(frame: Uint8Array): ParsedFrame {
  need(frame, ETHERNET_HEADER_BYTES, 'Ethernet header');
  let etherType = readU16(frame, 12);
  let at = ETHERNET_HEADER_BYTES;
  let vlan: number | undefined;
  if (etherType === ETHERTYPE_VLAN) {
    need(frame, at + 4, '802.1Q tag');
    vlan = readU16(frame, 14) & 0x0fff;
    etherType = readU16(frame, 16);
    at += 4;
  }
  const base = { etherType, ...(vlan !== undefined && { vlan }) };
  if (etherType !== ETHERTYPE_IPV4) return base;

  need(frame, at + IPV4_MIN_HEADER_BYTES, 'IPv4 header');
  const version = frame[at]! >> 4;
  const headerBytes = (frame[at]! & 0x0f) * 4;
  if (version !== 4 || headerBytes < IPV4_MIN_HEADER_BYTES) throw new PacketParseError('IPv4 version/IHL', `byte 0x${frame[at]!.toString(16)} is not version 4 with a header of 20 bytes or more`);
  need(frame, at + headerBytes, 'IPv4 header with options');
  const header = frame.subarray(at, at + headerBytes);
  const flagsOffset = readU16(header, 6);
  const ipv4: ParsedIpv4 = {
    at,
    headerBytes,
    totalLength: readU16(header, 2),
    protocol: header[9]!,
    src: ipv4Text(header.subarray(12, 16)),
    dst: ipv4Text(header.subarray(16, 20)),
    moreFragments: (flagsOffset & 0x2000) !== 0,
    fragmentOffset: (flagsOffset & 0x1fff) * 8,
    checksum: readU16(header, 10),
    checksumValid: readU16(header, 10) === ipv4HeaderChecksum(header),
  };
  if (ipv4.protocol !== IPPROTO_UDP || ipv4.fragmentOffset !== 0 || ipv4.moreFragments) return { ...base, ipv4 };

  const udpAt = at + headerBytes;
  need(frame, udpAt + UDP_HEADER_BYTES, 'UDP header');
  const length = readU16(frame, udpAt + 4);
  need(frame, udpAt + length, `UDP datagram of length ${length}`);
  const datagram = frame.subarray(udpAt, udpAt + length);
  const checksum = readU16(datagram, 6);
  const expectedChecksum = udpChecksum('ipv4', ipv4.src, ipv4.dst, datagram);
  const udp: ParsedUdp = {
    at: udpAt,
    srcPort: readU16(datagram, 0),
    dstPort: readU16(datagram, 2),
    length,
    checksum,
    expectedChecksum,
    checksumValid: checksum === 0 ? 'absent' : checksum === expectedChecksum,
  };
  return { ...base, ipv4, udp };
}

/** Hex dump for assertion messages: 16 bytes a line, offsets in hex. */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.byteLength; i += 16) {
    lines.push(`${i.toString(16).padStart(4, '0')}  ${Array.from(bytes.subarray(i, i + 16), (b) => b.toString(16).padStart(2, '0')).join(' ')}`);
  }
  return lines.join('\n');
}
