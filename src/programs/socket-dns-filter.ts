import { be16 } from '../asm/byteorder.js';
import { buildWithSourceMapOnDemand, ProgramBuilder, r0, r1, r6, r7, r10 } from '../asm/dsl/index.js';
import {
  ETH_P_IP,
  ETH_P_IPV6,
  FRAGMENT_OFFSET_MASK,
  IPPROTO_FRAGMENT,
  IPPROTO_UDP,
  Ipv4,
  IPV4_WITHOUT_OPTIONS,
  Ipv6,
  IPV6_FRAGMENT_OFFSET_MASK,
  Ipv6Fragment,
  Udp,
} from '../asm/packet.js';
import type { AssembledProgram } from '../asm/program.js';
import { loadNetworkHeaderBytes, SkBuff } from '../asm/socket-filter.js';
import { resolveOptions, type BuildSettings, type OptionSpec, type OptionValues } from './options.js';

/**
 * The socket filter of an eBPF DNS cache's capture path: attached to a
 * packet socket (SO_ATTACH_BPF), it keeps a frame only when it carries a
 * UDP datagram from or to `port` whose DNS header has QDCOUNT 1, the shape
 * of every query and answer a cache can use. It returns the packet length
 * (keep all of it) or 0 (drop).
 *
 * - IPv4, with or without options; a fragment is kept only when it is the
 *   first (offset 0), because later fragments carry no UDP header.
 * - IPv6 whose next header is UDP, or a Fragment header (offset 0) followed
 *   by UDP. Other extension headers are not followed: such packets are
 *   dropped.
 * - Anything shorter than its IP header, UDP header and 12-byte DNS header
 *   is dropped.
 *
 * Bytes are copied to the stack with one skb_load_bytes_relative from the
 * network header, which suits both AF_PACKET sockets and test runs (see
 * socket-filter.ts); a second copy is needed only after IPv4 options or an
 * IPv6 Fragment header.
 */

export const SOCKET_DNS_FILTER_OPTIONS = [
  { name: 'port', flag: '--port', kind: 'port', default: 53, help: 'UDP port of the DNS traffic to keep (as source or destination)' },
] as const satisfies readonly OptionSpec[];

export type SocketDnsFilterOptions = OptionValues<typeof SOCKET_DNS_FILTER_OPTIONS>;

/** Kernel-visible program name. */
const PROGRAM_NAME = 'sock_dns_filter';

/** The DNS header fields the filter reads (RFC 1035 section 4.1.1). */
const Dns = { size: 12, qdcount: 4 } as const;

/**
 * The stack copy: the IP header from byte 0. The UDP header and DNS header
 * (20 bytes) sit at the IPv4 header's end for IHL 5 and at the IPv6
 * header's end; a second copy puts them there in the other cases too.
 */
const COPY = -64;
const IPV4_COPY_BYTES = Ipv4.size + Udp.size + Dns.size;
const IPV6_COPY_BYTES = Ipv6.size + Udp.size + Dns.size;
const UDP_AND_DNS_BYTES = Udp.size + Dns.size;

export function buildSocketDnsFilter(input: Readonly<Record<string, unknown>> = {}, settings: BuildSettings = {}): AssembledProgram {
  const options = resolveOptions(SOCKET_DNS_FILTER_OPTIONS, input);
  return settings.captureSites === undefined
    ? buildWithSourceMapOnDemand((captureSites) => emit(options, captureSites))
    : emit(options, settings.captureSites);
}

function emit(options: SocketDnsFilterOptions, captureSites: boolean): AssembledProgram {
  const port = be16(options.port);
  const b = new ProgramBuilder({ name: PROGRAM_NAME, type: 'socket_filter', license: 'GPL', captureSites });
  // The helper calls clobber r0-r5: the context and the UDP header's stack address live in r6 and r7.
  const ctx = r6;
  const udp = r7;
  const field = r0;
  const copy = (offset: number | typeof r0, stackOffset: number, length: number) =>
    loadNetworkHeaderBytes(b, { ctx, offset, stackOffset, length }, 'drop');

  b.mov(ctx, r1);
  b.ldx('u32', field, ctx, SkBuff.protocol);
  b.jeq(field, be16(ETH_P_IP), 'ipv4');
  b.jne(field, be16(ETH_P_IPV6), 'drop');

  // IPv6: the fixed header, then UDP directly or after a first-fragment Fragment header.
  copy(0, COPY, IPV6_COPY_BYTES);
  b.mov(udp, r10);
  b.add(udp, COPY + Ipv6.size);
  b.ldx('u8', field, r10, COPY + Ipv6.nextHeader);
  b.jeq(field, IPPROTO_UDP, 'udp');
  b.jne(field, IPPROTO_FRAGMENT, 'drop');
  b.ldx('u16', field, udp, Ipv6Fragment.offsetFlags);
  b.jset(field, be16(IPV6_FRAGMENT_OFFSET_MASK), 'drop');
  b.ldx('u8', field, udp, Ipv6Fragment.nextHeader);
  b.jne(field, IPPROTO_UDP, 'drop');
  copy(Ipv6.size + Ipv6Fragment.size, COPY + Ipv6.size, UDP_AND_DNS_BYTES);
  b.ja('udp');

  // IPv4: protocol and fragment offset first, so that most other traffic leaves early.
  b.label('ipv4');
  copy(0, COPY, IPV4_COPY_BYTES);
  b.ldx('u8', field, r10, COPY + Ipv4.protocol);
  b.jne(field, IPPROTO_UDP, 'drop');
  b.ldx('u16', field, r10, COPY + Ipv4.fragment);
  b.jset(field, be16(FRAGMENT_OFFSET_MASK), 'drop');
  b.mov(udp, r10);
  b.add(udp, COPY + Ipv4.size);
  b.ldx('u8', field, r10, COPY + Ipv4.versionIhl);
  b.jeq(field, IPV4_WITHOUT_OPTIONS, 'udp');
  // Options: version 4 and IHL 6-15 (IHL 5 was the case above, less is malformed); copy from IHL * 4.
  b.mov(r1, field);
  b.rsh(r1, 4);
  b.jne(r1, 4, 'drop');
  b.and(field, 0x0f);
  b.jlt(field, 5, 'drop');
  b.lsh(field, 2);
  copy(field, COPY + Ipv4.size, UDP_AND_DNS_BYTES);

  b.label('udp');
  b.ldx('u16', field, udp, Udp.sport);
  b.jeq(field, port, 'dns');
  b.ldx('u16', field, udp, Udp.dport);
  b.jne(field, port, 'drop');
  b.label('dns');
  b.ldx('u16', field, udp, Udp.size + Dns.qdcount);
  b.jne(field, be16(1), 'drop');
  b.ldx('u32', r0, ctx, SkBuff.len);
  b.exit();

  b.label('drop');
  b.ret(0);
  return b.assemble();
}
