import { be16, ipv4 } from '../asm/byteorder.js';
import { buildWithSourceMapOnDemand, ProgramBuilder, r1, r2, r3, r4, r6 } from '../asm/dsl/index.js';
import { Ipv4, loadPacketPointers, requireIpv4Udp, Udp, type Ipv4UdpLayout } from '../asm/packet.js';
import { checksumDiff, REDIRECT_INGRESS, replaceIpv4Checksum, replaceUdpChecksum, TcAction, zeroEthernetAddresses } from '../asm/packet-tc.js';
import type { AssembledProgram } from '../asm/program.js';
import { parseEndpoint, resolveOptions, type BuildSettings, type Ipv4Endpoint, type OptionSpec, type OptionValues } from './options.js';

/**
 * Docker-style DNS redirect, as two tc programs inside a container's
 * network namespace. Clients query the embedded resolver at
 * 127.0.0.11:PORT (`resolver`); these programs send the queries to
 * `upstream` instead and bring the answers back, without the embedded
 * resolver and without NAT rules:
 *
 * - on `lo` ingress (`buildTcDnsRedirectLo`), a UDP query from 127.0.0.1 to
 *   the resolver gets source containerIp, destination upstream, and goes out
 *   of `eth` with bpf_redirect_neigh (route and neighbour lookup);
 * - on `eth` ingress (`buildTcDnsRedirectEth`), a UDP answer from upstream
 *   to containerIp gets source resolver, destination 127.0.0.1, zeroed MAC
 *   addresses (lo's own, so that it is for this host) and is redirected
 *   into lo's receive path, where the client's socket gets it. A packet with
 *   a loopback source arriving that way is a martian unless
 *   net.ipv4.conf.<lo>.route_localnet is 1.
 *
 * Only queries from 127.0.0.1 are redirected, because answers can only be
 * sent back to the one client address the eth program writes: a client
 * bound to another loopback address keeps talking to the local resolver.
 * Every other packet, including non-first IP fragments and IPv4 with
 * options, is left to the next program or filter (TC_ACT_UNSPEC); an answer
 * too large for eth's MTU arrives fragmented and is not redirected.
 *
 * The IPv4 and UDP checksums are updated with the kernel's helpers, by
 * differences computed here from the old and new constants, so they are
 * right for full checksums and for CHECKSUM_PARTIAL skbs (what locally sent
 * UDP is) alike: see replaceUdpChecksum.
 */

/** The only client address answers can be returned to (the eth program's new destination). */
const LOOPBACK_CLIENT = '127.0.0.1';

/** The options both programs take: where clients send queries, where they go instead, and the container's address. */
export const TC_DNS_REDIRECT_SETTINGS = [
  {
    name: 'resolver',
    flag: '--resolver',
    kind: 'endpoint',
    default: '127.0.0.11:53',
    help: "the embedded resolver the container's clients query (Docker: 127.0.0.11 and its port)",
  },
  { name: 'upstream', flag: '--upstream', kind: 'endpoint', default: '198.51.100.53:53', help: 'the resolver that answers instead' },
  { name: 'containerIp', flag: '--container-ip', kind: 'ipv4', default: '192.0.2.2', help: "the container's address on eth, the source of redirected queries" },
] as const satisfies readonly OptionSpec[];

export const TC_DNS_REDIRECT_LO_OPTIONS = [
  ...TC_DNS_REDIRECT_SETTINGS,
  {
    name: 'ethIfindex',
    flag: '--eth-ifindex',
    kind: 'ifindex',
    default: 2,
    help: 'index of the interface queries leave by (bpfgen attach resolves --eth instead)',
  },
] as const satisfies readonly OptionSpec[];

export const TC_DNS_REDIRECT_ETH_OPTIONS = [
  ...TC_DNS_REDIRECT_SETTINGS,
  { name: 'loIfindex', flag: '--lo-ifindex', kind: 'ifindex', default: 1, help: 'index of the loopback interface (1 in every network namespace)' },
] as const satisfies readonly OptionSpec[];

export type TcDnsRedirectLoOptions = OptionValues<typeof TC_DNS_REDIRECT_LO_OPTIONS>;
export type TcDnsRedirectEthOptions = OptionValues<typeof TC_DNS_REDIRECT_ETH_OPTIONS>;
export type TcDnsRedirectSettings = OptionValues<typeof TC_DNS_REDIRECT_SETTINGS>;

/** Kernel-visible program names (at most 15 characters, no dashes). */
export const TC_DNS_REDIRECT_PROGRAM_NAMES = { lo: 'dns_redir_lo', eth: 'dns_redir_eth' } as const;

/** The program for `lo` ingress: queries to the resolver go to upstream. */
export function buildTcDnsRedirectLo(input: Readonly<Record<string, unknown>> = {}, settings: BuildSettings = {}): AssembledProgram {
  const options = resolveOptions(TC_DNS_REDIRECT_LO_OPTIONS, input);
  return build(settings, (captureSites) => emitLo(options, captureSites));
}

/** The program for `eth` ingress: answers from upstream go to the client on lo. */
export function buildTcDnsRedirectEth(input: Readonly<Record<string, unknown>> = {}, settings: BuildSettings = {}): AssembledProgram {
  const options = resolveOptions(TC_DNS_REDIRECT_ETH_OPTIONS, input);
  return build(settings, (captureSites) => emitEth(options, captureSites));
}

function build(settings: BuildSettings, emit: (captureSites: boolean) => AssembledProgram): AssembledProgram {
  return settings.captureSites === undefined ? buildWithSourceMapOnDemand(emit) : emit(settings.captureSites);
}

/** Validated by resolveOptions, so parsing cannot fail here. */
function endpoint(text: string): Ipv4Endpoint {
  return parseEndpoint(text)!;
}

/** The registers both programs use: the context is kept in r6 across helper calls. */
const ctx = r6;
const data = r2;
const dataEnd = r3;
const scratch = r4;

/** Start a program: save the context, find Ethernet/IPv4/UDP or go to 'next'. */
function begin(name: string, captureSites: boolean): { b: ProgramBuilder; at: Ipv4UdpLayout } {
  const b = new ProgramBuilder({ name, type: 'sched_cls', license: 'GPL', captureSites });
  b.mov(ctx, r1);
  loadPacketPointers(b, 'tc', r1, { data, dataEnd });
  return { b, at: requireIpv4Udp(b, { data, dataEnd, scratch }, 'next') };
}

/** Go to 'next' unless the field at `offset` holds `value` (a be16/ipv4 immediate). */
function requireField(b: ProgramBuilder, bytes: 2 | 4, offset: number, value: number): void {
  b.ldx(bytes === 2 ? 'u16' : 'u32', scratch, data, offset);
  b.jne(bytes === 2 ? scratch : scratch.w, value, 'next');
}

interface Rewrite {
  readonly saddr: readonly [from: string, to: string];
  readonly daddr: readonly [from: string, to: string];
  /** The port field that changes (the destination of a query, the source of an answer). */
  readonly port: { readonly offset: number; readonly from: number; readonly to: number };
}

/**
 * Write the new addresses and port (the caller has checked the old ones),
 * then fix both checksums by the constant differences. Helper calls end
 * packet access, so this is the program's last write to the packet.
 * Returns whether it called a checksum helper, which can fail and go to
 * 'drop': with every difference 0 (equal values, or addresses that swap
 * places) there is no call, and an unreachable 'drop' the verifier rejects.
 */
function rewrite(b: ProgramBuilder, at: Ipv4UdpLayout, change: Rewrite): boolean {
  b.st('u32', data, at.ip + Ipv4.saddr, ipv4(change.saddr[1]));
  b.st('u32', data, at.ip + Ipv4.daddr, ipv4(change.daddr[1]));
  b.st('u16', data, change.port.offset, be16(change.port.to));
  const addresses = checksumDiff([
    { bytes: 4, from: ipv4(change.saddr[0]), to: ipv4(change.saddr[1]) },
    { bytes: 4, from: ipv4(change.daddr[0]), to: ipv4(change.daddr[1]) },
  ]);
  const port = checksumDiff([{ bytes: 2, from: be16(change.port.from), to: be16(change.port.to) }]);
  replaceIpv4Checksum(b, { ctx, offset: at.ip + Ipv4.checksum, diff: addresses, onError: 'drop' });
  replaceUdpChecksum(b, { ctx, offset: at.udp + Udp.checksum, diff: addresses, pseudoHeader: true, onError: 'drop' });
  replaceUdpChecksum(b, { ctx, offset: at.udp + Udp.checksum, diff: port, pseudoHeader: false, onError: 'drop' });
  return addresses !== 0 || port !== 0;
}

/** Return the redirect helper's verdict (TC_ACT_REDIRECT); 'next' passes the packet on, 'drop' (when a helper can fail) drops a half-rewritten one. */
function finish(b: ProgramBuilder, canFail: boolean): AssembledProgram {
  b.exit();
  b.label('next');
  b.ret(TcAction.UNSPEC);
  if (canFail) {
    b.label('drop');
    b.ret(TcAction.SHOT);
  }
  return b.assemble();
}

function emitLo(options: TcDnsRedirectLoOptions, captureSites: boolean): AssembledProgram {
  const resolver = endpoint(options.resolver);
  const upstream = endpoint(options.upstream);
  const { b, at } = begin(TC_DNS_REDIRECT_PROGRAM_NAMES.lo, captureSites);
  requireField(b, 2, at.udp + Udp.dport, be16(resolver.port));
  requireField(b, 4, at.ip + Ipv4.daddr, ipv4(resolver.address));
  requireField(b, 4, at.ip + Ipv4.saddr, ipv4(LOOPBACK_CLIENT));
  const canFail = rewrite(b, at, {
    saddr: [LOOPBACK_CLIENT, options.containerIp],
    daddr: [resolver.address, upstream.address],
    port: { offset: at.udp + Udp.dport, from: resolver.port, to: upstream.port },
  });
  // bpf_redirect_neigh(ifindex, NULL, 0, 0): out of eth to the next hop the routing table gives.
  b.mov(r1, options.ethIfindex);
  b.mov(r2, 0);
  b.mov(r3, 0);
  b.mov(r4, 0);
  b.call('redirect_neigh', r1, r2, r3, r4);
  return finish(b, canFail);
}

function emitEth(options: TcDnsRedirectEthOptions, captureSites: boolean): AssembledProgram {
  const resolver = endpoint(options.resolver);
  const upstream = endpoint(options.upstream);
  const { b, at } = begin(TC_DNS_REDIRECT_PROGRAM_NAMES.eth, captureSites);
  requireField(b, 2, at.udp + Udp.sport, be16(upstream.port));
  requireField(b, 4, at.ip + Ipv4.saddr, ipv4(upstream.address));
  requireField(b, 4, at.ip + Ipv4.daddr, ipv4(options.containerIp));
  zeroEthernetAddresses(b, data);
  const canFail = rewrite(b, at, {
    saddr: [upstream.address, resolver.address],
    daddr: [options.containerIp, LOOPBACK_CLIENT],
    port: { offset: at.udp + Udp.sport, from: upstream.port, to: resolver.port },
  });
  // bpf_redirect(lo, BPF_F_INGRESS): into lo's receive path, as if lo had received it.
  b.mov(r1, options.loIfindex);
  b.mov(r2, REDIRECT_INGRESS);
  b.call('redirect', r1, r2);
  return finish(b, canFail);
}
