/**
 * From a captured frame to a DNS message: the IP and UDP headers give the
 * endpoints and where the DNS bytes are, the DNS header is read directly
 * (so that even a message dns-packet cannot decode still has its id, kind
 * and rcode for matching), and dns-packet decodes the questions and answers.
 */
import { createRequire } from 'node:module';
import dnsPacket from 'dns-packet';
import { formatIpv4, formatIpv6 } from '../cli/packet/addresses.js';
import type { CapturedFrame } from './packet-socket.js';

const require = createRequire(import.meta.url);
/** dns-packet's own names for RCODE and OPCODE values, which its type declarations do not export. */
const rcodes = require('dns-packet/rcodes') as { toString(rcode: number): string };
const opcodes = require('dns-packet/opcodes') as { toString(opcode: number): string };

export interface DnsEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface DnsQuestion {
  readonly name: string;
  readonly type: string;
  readonly class: string;
}

export interface DnsRecord {
  readonly name: string;
  readonly type: string;
  readonly class: string;
  readonly ttl: number;
  /** The record data as text, in the style of dig: an address, a name, `10 mail.example`, TXT strings in quotes. */
  readonly data: string;
}

/**
 * - `ok`: decoded completely;
 * - `fragment`: the first fragment of a fragmented datagram, so only the
 *   header fields are known;
 * - `malformed`: the bytes are not a valid DNS message (see `problem`).
 */
export type DnsMessageStatus = 'ok' | 'fragment' | 'malformed';

export interface DnsMessage {
  /** When the kernel saw the frame, nanoseconds since the Unix epoch. */
  readonly timestampNs: bigint;
  /** 'out' when this host sent it. */
  readonly direction: 'in' | 'out';
  readonly ifindex: number;
  readonly ipVersion: 4 | 6;
  readonly src: DnsEndpoint;
  readonly dst: DnsEndpoint;
  /** Bytes of DNS message captured. */
  readonly size: number;
  readonly id: number;
  readonly kind: 'query' | 'response';
  readonly opcode: string;
  readonly rcode: string;
  /** Header flags that are set, as dig names them: aa, tc, rd, ra, ad, cd. */
  readonly flags: readonly string[];
  readonly questions: readonly DnsQuestion[];
  readonly answers: readonly DnsRecord[];
  readonly status: DnsMessageStatus;
  /** Why the message is malformed. */
  readonly problem?: string;
}

const DNS_HEADER = 12;
const UDP_HEADER = 8;
const IPV6_HEADER = 40;
const IPV6_FRAGMENT_HEADER = 8;
const IPPROTO_UDP = 17;
const IPPROTO_FRAGMENT = 44;
const FLAG_BITS: readonly (readonly [string, number])[] = [
  ['aa', 0x0400],
  ['tc', 0x0200],
  ['rd', 0x0100],
  ['ra', 0x0080],
  ['ad', 0x0020],
  ['cd', 0x0010],
];

/** Where the UDP datagram sits in the frame, and whether it is cut by fragmentation. */
interface UdpLocation {
  readonly ipVersion: 4 | 6;
  readonly srcAddress: string;
  readonly dstAddress: string;
  readonly udp: number;
  /** End of the IP payload in the frame (Ethernet padding excluded). */
  readonly end: number;
  readonly firstFragment: boolean;
}

function u16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

function locateIpv4(data: Uint8Array, net: number): UdpLocation | undefined {
  if (data.byteLength < net + 20) return undefined;
  const headerBytes = (data[net]! & 0x0f) * 4;
  const flagsOffset = u16(data, net + 6);
  if (headerBytes < 20 || data[net + 9] !== IPPROTO_UDP || (flagsOffset & 0x1fff) !== 0) return undefined;
  return {
    ipVersion: 4,
    srcAddress: formatIpv4(data.subarray(net + 12, net + 16)),
    dstAddress: formatIpv4(data.subarray(net + 16, net + 20)),
    udp: net + headerBytes,
    end: Math.min(data.byteLength, net + u16(data, net + 2)),
    firstFragment: (flagsOffset & 0x2000) !== 0,
  };
}

function locateIpv6(data: Uint8Array, net: number): UdpLocation | undefined {
  if (data.byteLength < net + IPV6_HEADER) return undefined;
  let udp = net + IPV6_HEADER;
  let firstFragment = false;
  if (data[net + 6] === IPPROTO_FRAGMENT) {
    if (data.byteLength < udp + IPV6_FRAGMENT_HEADER || data[udp] !== IPPROTO_UDP) return undefined;
    const offsetFlags = u16(data, udp + 2);
    if ((offsetFlags & 0xfff8) !== 0) return undefined;
    firstFragment = (offsetFlags & 1) !== 0;
    udp += IPV6_FRAGMENT_HEADER;
  } else if (data[net + 6] !== IPPROTO_UDP) {
    return undefined;
  }
  return {
    ipVersion: 6,
    srcAddress: formatIpv6(data.subarray(net + 8, net + 24)),
    dstAddress: formatIpv6(data.subarray(net + 24, net + 40)),
    udp,
    end: Math.min(data.byteLength, net + IPV6_HEADER + u16(data, net + 4)),
    firstFragment,
  };
}

function recordData(data: unknown): string {
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data.toString('hex');
  if (Array.isArray(data)) return data.map((part) => (Buffer.isBuffer(part) || typeof part === 'string' ? JSON.stringify(part.toString()) : recordData(part))).join(' ');
  if (data && typeof data === 'object') {
    const fields = data as Record<string, unknown>;
    // The presentation order of RFC 1035 and RFC 2782 for the common structured types.
    for (const order of [['preference', 'exchange'], ['priority', 'weight', 'port', 'target'], ['mname', 'rname', 'serial', 'refresh', 'retry', 'expire', 'minimum']]) {
      if (order.every((key) => key in fields)) return order.map((key) => String(fields[key])).join(' ');
    }
    return JSON.stringify(data, (_key, value: unknown) => (Buffer.isBuffer(value) ? value.toString('hex') : value));
  }
  return String(data);
}

interface DecodedBody {
  readonly questions: DnsQuestion[];
  readonly answers: DnsRecord[];
}

function decodeBody(bytes: Uint8Array): DecodedBody {
  const decoded = dnsPacket.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return {
    questions: (decoded.questions ?? []).map((q) => ({ name: q.name, type: q.type, class: q.class ?? 'IN' })),
    answers: (decoded.answers ?? []).map((a) => {
      const record = a as { name: string; type: string; class?: string; ttl?: number; data?: unknown };
      return { name: record.name, type: record.type, class: record.class ?? 'IN', ttl: record.ttl ?? 0, data: recordData(record.data) };
    }),
  };
}

/**
 * The DNS message a frame carries, or undefined when it carries none the
 * capture can read (not UDP over IPv4/IPv6, a non-first fragment, or no
 * room for a DNS header): the socket filter lets none of those through.
 */
export function decodeDnsFrame(frame: Pick<CapturedFrame, 'data' | 'networkOffset' | 'timestampNs' | 'direction' | 'ifindex'>): DnsMessage | undefined {
  const { data, networkOffset: net } = frame;
  const version = data.byteLength > net ? data[net]! >> 4 : 0;
  const location = version === 4 ? locateIpv4(data, net) : version === 6 ? locateIpv6(data, net) : undefined;
  if (!location || location.end < location.udp + UDP_HEADER + DNS_HEADER) return undefined;
  const { udp } = location;
  const udpLength = u16(data, udp + 4);
  // A first fragment's UDP length counts the whole datagram; otherwise it bounds the message.
  const end = location.firstFragment ? location.end : Math.min(location.end, udp + udpLength);
  const dns = data.subarray(udp + UDP_HEADER, Math.max(end, udp + UDP_HEADER + DNS_HEADER));
  const flags = u16(dns, 2);
  const header = {
    timestampNs: frame.timestampNs,
    direction: frame.direction,
    ifindex: frame.ifindex,
    ipVersion: location.ipVersion,
    src: { address: location.srcAddress, port: u16(data, udp) },
    dst: { address: location.dstAddress, port: u16(data, udp + 2) },
    size: dns.byteLength,
    id: u16(dns, 0),
    kind: (flags & 0x8000) !== 0 ? ('response' as const) : ('query' as const),
    opcode: opcodes.toString((flags >> 11) & 0x0f),
    rcode: rcodes.toString(flags & 0x0f),
    flags: FLAG_BITS.filter(([, bit]) => (flags & bit) !== 0).map(([name]) => name),
  };
  if (location.firstFragment) return { ...header, questions: [], answers: [], status: 'fragment' };
  if (udpLength < UDP_HEADER + DNS_HEADER) {
    return { ...header, questions: [], answers: [], status: 'malformed', problem: `UDP length ${udpLength} leaves no room for the 12-byte DNS header` };
  }
  try {
    return { ...header, ...decodeBody(dns), status: 'ok' };
  } catch (error) {
    const problem = error instanceof Error ? error.message : String(error);
    return { ...header, questions: [], answers: [], status: 'malformed', problem };
  }
}
