/**
 * Ready-made frames for `test-run --packet-preset`: Ethernet/IPv4/UDP DNS
 * messages between a client and the resolver address xdp-dns-forward
 * serves by default, with correct IPv4 and UDP checksums.
 */
import { parseIpv4 } from '../../asm/byteorder.js';
import { internetChecksum, ipv4PseudoHeaderSum } from './checksum.js';

const CLIENT = { mac: [0x02, 0, 0, 0, 0, 0x01], ip: '100.64.0.1', port: 40000 };
const RESOLVER = { mac: [0x02, 0, 0, 0, 0, 0x02], ip: '100.127.136.241' };
const DNS_PORT = 53;
const RESOLVER_LISTEN_PORT = 5053;

/** A DNS query for example.com A (RFC 1035 4.1): header with id 0x1234 and RD, one question. */
const QUERY = [
  [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0],
  [7, ...'example'.split('').map((c) => c.charCodeAt(0)), 3, ...'com'.split('').map((c) => c.charCodeAt(0)), 0],
  [0, 1, 0, 1],
].flat();

/** Its answer: QR, RD, RA; the question again; one A record, a pointer to the name at 12, TTL 60, 192.0.2.1. */
const REPLY = [
  [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0],
  QUERY.slice(12),
  [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1],
].flat();

interface Endpoint {
  readonly mac: readonly number[];
  readonly ip: string;
  readonly port: number;
}

function octets(ip: string): Uint8Array {
  const value = parseIpv4(ip)!;
  return new Uint8Array([value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff]);
}

/** An Ethernet/IPv4/UDP frame carrying `payload`, with both checksums computed. */
export function udpFrame(from: Endpoint, to: Endpoint, payload: readonly number[]): Uint8Array {
  const udpLength = 8 + payload.length;
  const frame = new Uint8Array(14 + 20 + udpLength);
  const view = new DataView(frame.buffer);
  frame.set(to.mac, 0);
  frame.set(from.mac, 6);
  view.setUint16(12, 0x0800);
  const ip = frame.subarray(14, 34);
  ip[0] = 0x45;
  view.setUint16(16, 20 + udpLength);
  view.setUint16(18, 0x1234);
  view.setUint16(20, 0x4000); // DF
  ip[8] = 64;
  ip[9] = 17;
  ip.set(octets(from.ip), 12);
  ip.set(octets(to.ip), 16);
  view.setUint16(24, internetChecksum(ip));
  const udp = frame.subarray(34);
  view.setUint16(34, from.port);
  view.setUint16(36, to.port);
  view.setUint16(38, udpLength);
  udp.set(payload, 8);
  // A computed UDP checksum of 0 is sent as 0xffff, since 0 means "none" (RFC 768).
  view.setUint16(40, internetChecksum(udp, ipv4PseudoHeaderSum(ip.subarray(12, 16), ip.subarray(16, 20), 17, udpLength)) || 0xffff);
  return frame;
}

export const PACKET_PRESETS = {
  'dns-query': {
    description: `DNS query ${CLIENT.ip}:${CLIENT.port} -> ${RESOLVER.ip}:${DNS_PORT} (example.com A)`,
    build: () => udpFrame(CLIENT, { ...RESOLVER, port: DNS_PORT }, QUERY),
  },
  'dns-reply': {
    description: `DNS reply ${RESOLVER.ip}:${RESOLVER_LISTEN_PORT} -> ${CLIENT.ip}:${CLIENT.port} (example.com A 192.0.2.1)`,
    build: () => udpFrame({ ...RESOLVER, port: RESOLVER_LISTEN_PORT }, CLIENT, REPLY),
  },
} as const;

export type PacketPresetName = keyof typeof PACKET_PRESETS;
export const PACKET_PRESET_NAMES = Object.keys(PACKET_PRESETS) as PacketPresetName[];
