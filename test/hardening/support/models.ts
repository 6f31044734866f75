/**
 * What each program should do to a frame, stated again from its
 * documentation without any code of src/: the return value, and the output
 * frame byte for byte.
 *
 * Checksums follow RFC 1624: rewriting 16-bit words m to m' changes a
 * checksum HC to HC' ≡ HC + m − m' (mod 0xffff). Of the two encodings of a
 * residue 0 (0x0000 and 0xffff), RFC 1624's eqn 3, HC' = ~(~HC + ~m + m'),
 * yields 0x0000, which the IPv4 header keeps; a UDP checksum of 0 means "no
 * checksum" (RFC 768), so UDP uses 0xffff, and a UDP checksum that is 0
 * stays 0. The judge of the result is independent of this arithmetic too:
 * the fuzz test recomputes the checksums of rewritten well-formed frames
 * in full (test/support/packets.ts).
 */
import { keepsDnsFrame } from '../../dns-capture/dns-rule.js';
import type { Vocabulary } from './frames.js';

const ETHERNET_BYTES = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
/** Ethernet, an IPv4 header without options (IHL 5), and UDP at fixed offsets. */
const At = { ip: 14, ipChecksum: 24, saddr: 26, daddr: 30, udp: 34, sport: 34, dport: 36, udpChecksum: 40, payload: 42 } as const;
const LOOPBACK_CLIENT = '127.0.0.1';

/** What a test run of the program on a frame should give. */
export interface Outcome {
  /** BPF_PROG_TEST_RUN refuses the frame (EINVAL) before the program runs. */
  readonly refused: boolean;
  /** The program's return value, as the unsigned 32-bit number test runs report. */
  readonly retval: number;
  readonly data: Uint8Array;
  /** Whether the program acts on the frame: rewrites it, or (a socket filter) keeps it. */
  readonly acted: boolean;
  /** Whether the program rewrites its headers (and so must leave valid checksums valid). */
  readonly rewritten: boolean;
}

export interface ProgramModel {
  /** The values and flows the program acts on, for the frame generator. */
  readonly vocabulary: Vocabulary;
  expect(frame: Uint8Array): Outcome;
}

function u16(frame: Uint8Array, at: number): number {
  return (frame[at]! << 8) | frame[at + 1]!;
}

function setU16(frame: Uint8Array, at: number, value: number): void {
  frame[at] = value >> 8;
  frame[at + 1] = value & 0xff;
}

function addressBytes(text: string): number[] {
  return text.split('.').map(Number);
}

function addressAt(frame: Uint8Array, at: number): string {
  return Array.from(frame.subarray(at, at + 4)).join('.');
}

function endpoint(text: string): { address: string; port: number } {
  const [address, port] = text.split(':');
  return { address: address!, port: Number(port) };
}

/** The 16-bit words of a field's old and new bytes. */
function words(bytes: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) out.push((bytes[i]! << 8) | (bytes[i + 1] ?? 0));
  return out;
}

/** Σ(old − new) over the words of the changed fields, modulo 0xffff: what the checksum gains. */
function checksumGain(changes: readonly (readonly [from: readonly number[], to: readonly number[]])[]): number {
  let gain = 0;
  for (const [from, to] of changes) {
    const before = words(from);
    words(to).forEach((word, i) => (gain += before[i]! - word));
  }
  return ((gain % 0xffff) + 0xffff) % 0xffff;
}

/** HC' ≡ HC + gain (mod 0xffff), encoded as the IPv4 header (0x0000 for zero) or UDP (0xffff for zero) does. */
function updatedChecksum(checksum: number, gain: number, zero: 0 | 0xffff): number {
  const residue = (checksum + gain) % 0xffff;
  return residue === 0 ? zero : residue;
}

/** Rewrite a UDP checksum for `gain`, unless it is 0 ("no checksum") or nothing changed. */
function updateUdpChecksum(frame: Uint8Array, gain: number): void {
  const checksum = u16(frame, At.udpChecksum);
  if (checksum === 0 || gain === 0) return;
  setU16(frame, At.udpChecksum, updatedChecksum(checksum, gain, 0xffff));
}

/**
 * Ethernet, IPv4 with IHL 5, not a non-first fragment, UDP, with the UDP
 * header complete: the only frames the rewriting programs look into.
 */
function isPlainIpv4Udp(frame: Uint8Array): boolean {
  return (
    frame.byteLength >= At.payload &&
    u16(frame, 12) === ETHERTYPE_IPV4 &&
    frame[At.ip] === 0x45 &&
    (u16(frame, At.ip + 6) & 0x1fff) === 0 &&
    frame[At.ip + 9] === 17
  );
}

/**
 * skb test runs (tc, socket filters) check that an IPv4 or IPv6 frame holds
 * the fixed IP header before running anything; XDP test runs only need the
 * Ethernet header. Shorter than Ethernet is refused by both.
 */
function skbTestRunRefuses(frame: Uint8Array): boolean {
  const etherType = frame.byteLength >= ETHERNET_BYTES ? u16(frame, 12) : 0;
  if (frame.byteLength < ETHERNET_BYTES) return true;
  if (etherType === ETHERTYPE_IPV4) return frame.byteLength < ETHERNET_BYTES + 20;
  if (etherType === ETHERTYPE_IPV6) return frame.byteLength < ETHERNET_BYTES + 40;
  return false;
}

const XDP_PASS = 2;
const TC_ACT_UNSPEC = 0xffffffff;
const TC_ACT_REDIRECT = 7;

export interface XdpDnsForwardConfig {
  readonly dnsIp: string;
  readonly listenPort: number;
  readonly dnsPort: number;
}

/**
 * xdp-dns-forward: every frame passes. A query to dnsIp:dnsPort gets
 * destination port listenPort; otherwise a reply from dnsIp:listenPort gets
 * source port dnsPort; the UDP checksum follows.
 */
export function xdpDnsForwardModel(config: XdpDnsForwardConfig): ProgramModel {
  return {
    vocabulary: {
      flows: [
        { dst: config.dnsIp, dstPort: config.dnsPort },
        { src: config.dnsIp, srcPort: config.listenPort },
      ],
      addresses: [config.dnsIp],
      ports: [config.dnsPort, config.listenPort],
    },
    expect(frame) {
      const data = frame.slice();
      const pass = { refused: frame.byteLength < ETHERNET_BYTES, retval: XDP_PASS, data, acted: false, rewritten: false };
      if (!isPlainIpv4Udp(frame)) return pass;
      let field: number;
      let to: number;
      if (u16(frame, At.dport) === config.dnsPort && addressAt(frame, At.daddr) === config.dnsIp) {
        [field, to] = [At.dport, config.listenPort];
      } else if (u16(frame, At.sport) === config.listenPort && addressAt(frame, At.saddr) === config.dnsIp) {
        [field, to] = [At.sport, config.dnsPort];
      } else {
        return pass;
      }
      const from = u16(frame, field);
      setU16(data, field, to);
      updateUdpChecksum(data, checksumGain([[[from >> 8, from & 0xff], [to >> 8, to & 0xff]]]));
      return { ...pass, acted: true, rewritten: true };
    },
  };
}

export interface TcDnsRedirectConfig {
  readonly resolver: string;
  readonly upstream: string;
  readonly containerIp: string;
}

interface Rewrite {
  readonly saddr: string;
  readonly daddr: string;
  readonly portField: number;
  readonly port: number;
  readonly zeroMacs: boolean;
}

/** Write the new addresses and port, and update both checksums as bpf_l3/l4_csum_replace do: addresses first, then the port. */
function redirect(frame: Uint8Array, change: Rewrite): Outcome {
  const data = frame.slice();
  if (change.zeroMacs) data.fill(0, 0, 12);
  const addresses = checksumGain([
    [Array.from(frame.subarray(At.saddr, At.saddr + 4)), addressBytes(change.saddr)],
    [Array.from(frame.subarray(At.daddr, At.daddr + 4)), addressBytes(change.daddr)],
  ]);
  const oldPort = u16(frame, change.portField);
  const port = checksumGain([[[oldPort >> 8, oldPort & 0xff], [change.port >> 8, change.port & 0xff]]]);
  data.set(addressBytes(change.saddr), At.saddr);
  data.set(addressBytes(change.daddr), At.daddr);
  setU16(data, change.portField, change.port);
  if (addresses !== 0) setU16(data, At.ipChecksum, updatedChecksum(u16(frame, At.ipChecksum), addresses, 0));
  updateUdpChecksum(data, addresses);
  updateUdpChecksum(data, port);
  return { refused: false, retval: TC_ACT_REDIRECT, data, acted: true, rewritten: true };
}

function unspec(frame: Uint8Array): Outcome {
  return { refused: skbTestRunRefuses(frame), retval: TC_ACT_UNSPEC, data: frame.slice(), acted: false, rewritten: false };
}

/** tc-dns-redirect-lo: a query from 127.0.0.1 to the resolver comes from containerIp and goes to upstream (TC_ACT_REDIRECT). */
export function tcDnsRedirectLoModel(config: TcDnsRedirectConfig): ProgramModel {
  const resolver = endpoint(config.resolver);
  const upstream = endpoint(config.upstream);
  return {
    vocabulary: {
      flows: [{ src: LOOPBACK_CLIENT, dst: resolver.address, dstPort: resolver.port }],
      addresses: [LOOPBACK_CLIENT, resolver.address, upstream.address, config.containerIp],
      ports: [resolver.port, upstream.port],
    },
    expect(frame) {
      if (skbTestRunRefuses(frame) || !isPlainIpv4Udp(frame)) return unspec(frame);
      const matches = u16(frame, At.dport) === resolver.port && addressAt(frame, At.daddr) === resolver.address && addressAt(frame, At.saddr) === LOOPBACK_CLIENT;
      if (!matches) return unspec(frame);
      return redirect(frame, { saddr: config.containerIp, daddr: upstream.address, portField: At.dport, port: upstream.port, zeroMacs: false });
    },
  };
}

/** tc-dns-redirect-eth: an answer from upstream to containerIp comes from the resolver, goes to 127.0.0.1, with zero MACs (TC_ACT_REDIRECT). */
export function tcDnsRedirectEthModel(config: TcDnsRedirectConfig): ProgramModel {
  const resolver = endpoint(config.resolver);
  const upstream = endpoint(config.upstream);
  return {
    vocabulary: {
      flows: [{ src: upstream.address, srcPort: upstream.port, dst: config.containerIp }],
      addresses: [LOOPBACK_CLIENT, resolver.address, upstream.address, config.containerIp],
      ports: [resolver.port, upstream.port],
    },
    expect(frame) {
      if (skbTestRunRefuses(frame) || !isPlainIpv4Udp(frame)) return unspec(frame);
      const matches = u16(frame, At.sport) === upstream.port && addressAt(frame, At.saddr) === upstream.address && addressAt(frame, At.daddr) === config.containerIp;
      if (!matches) return unspec(frame);
      return redirect(frame, { saddr: resolver.address, daddr: LOOPBACK_CLIENT, portField: At.sport, port: resolver.port, zeroMacs: true });
    },
  };
}

/**
 * socket-dns-filter: keep (the whole skb, which a test run starts at the
 * network header: the frame less its Ethernet header) exactly the frames
 * dns-rule.ts keeps, else 0. A socket filter cannot change the packet; the
 * test run gives the Ethernet header back zeroed, since the program never
 * saw it (net/bpf/test_run.c pushes it back as zeros for types that start
 * at the network header).
 */
export function socketDnsFilterModel(config: { readonly port: number }): ProgramModel {
  return {
    vocabulary: { flows: [{ srcPort: config.port }, { dstPort: config.port }], addresses: [], ports: [config.port] },
    expect(frame) {
      const keep = !skbTestRunRefuses(frame) && keepsDnsFrame(frame, config.port);
      const data = frame.slice();
      data.fill(0, 0, ETHERNET_BYTES);
      return { refused: skbTestRunRefuses(frame), retval: keep ? frame.byteLength - ETHERNET_BYTES : 0, data, acted: keep, rewritten: false };
    },
  };
}
