import { be16, ipv4 } from '../asm/byteorder.js';
import { buildWithSourceMapOnDemand, ProgramBuilder, r1, r2, r3, r4, r5 } from '../asm/dsl/index.js';
import {
  applyUdpChecksumAdjustment,
  Ipv4,
  loadPacketPointers,
  requireIpv4Udp,
  Udp,
  udpChecksumAdjustment,
  XdpAction,
} from '../asm/packet.js';
import type { AssembledProgram } from '../asm/program.js';
import { resolveOptions, type BuildSettings, type OptionSpec, type OptionValues } from './options.js';

/**
 * NetBird's DNS port sharing, as an XDP program for `lo`. The resolver
 * listens on dnsIp:listenPort, but clients query dnsIp:dnsPort:
 *
 * - a query to dnsIp:dnsPort gets destination port listenPort;
 * - a reply from dnsIp:listenPort gets source port dnsPort;
 *
 * each with the UDP checksum updated incrementally. Every packet is passed
 * on. Only Ethernet/IPv4 without IP options (IHL 5) and not a non-first
 * fragment is looked at: other packets, including those with IP options,
 * pass untouched rather than being parsed at the wrong offset.
 *
 * On `lo` locally generated packets usually carry CHECKSUM_PARTIAL and the
 * receiver does not verify the field; updating it keeps it correct for the
 * cases where it is verified.
 */

export const XDP_DNS_FORWARD_OPTIONS = [
  { name: 'dnsIp', flag: '--dns-ip', kind: 'ipv4', default: '100.127.136.241', help: 'address clients send DNS queries to' },
  { name: 'listenPort', flag: '--listen-port', kind: 'port', default: 5053, help: 'UDP port the resolver really listens on' },
  { name: 'dnsPort', flag: '--dns-port', kind: 'port', default: 53, help: 'UDP port clients send DNS queries to' },
] as const satisfies readonly OptionSpec[];

export type XdpDnsForwardOptions = OptionValues<typeof XDP_DNS_FORWARD_OPTIONS>;

export const XDP_DNS_FORWARD_DEFAULTS: XdpDnsForwardOptions = resolveOptions(XDP_DNS_FORWARD_OPTIONS);

/** Kernel-visible program name (the CLI name has dashes, which object names may not). */
const PROGRAM_NAME = 'xdp_dns_fwd';

export function buildXdpDnsForward(input: Readonly<Record<string, unknown>> = {}, settings: BuildSettings = {}): AssembledProgram {
  const options = resolveOptions(XDP_DNS_FORWARD_OPTIONS, input);
  return settings.captureSites === undefined
    ? buildWithSourceMapOnDemand((captureSites) => emit(options, captureSites))
    : emit(options, settings.captureSites);
}

function emit(options: XdpDnsForwardOptions, captureSites: boolean): AssembledProgram {
  const dnsPort = be16(options.dnsPort);
  const listenPort = be16(options.listenPort);
  const dnsIp = ipv4(options.dnsIp);

  const b = new ProgramBuilder({ name: PROGRAM_NAME, type: 'xdp', license: 'GPL', captureSites });
  const ctx = r1;
  const data = r2;
  const dataEnd = r3;
  const port = r4;
  const address = r5;
  const adjustment = r5;

  loadPacketPointers(b, 'xdp', ctx, { data, dataEnd });
  const at = requireIpv4Udp(b, { data, dataEnd, scratch: port }, 'pass');
  const dport = at.udp + Udp.dport;
  const sport = at.udp + Udp.sport;

  // Query: dnsIp:dnsPort -> dnsIp:listenPort.
  b.ldx('u16', port, data, dport);
  b.jne(port, dnsPort, 'reply');
  b.ldx('u32', address, data, at.ip + Ipv4.daddr);
  b.jne(address.w, dnsIp, 'reply');
  b.st('u16', data, dport, listenPort);
  b.mov(adjustment, udpChecksumAdjustment(dnsPort, listenPort));
  b.ja('checksum');

  // Reply: dnsIp:listenPort -> dnsIp:dnsPort.
  b.label('reply');
  b.ldx('u16', port, data, sport);
  b.jne(port, listenPort, 'pass');
  b.ldx('u32', address, data, at.ip + Ipv4.saddr);
  b.jne(address.w, dnsIp, 'pass');
  b.st('u16', data, sport, dnsPort);
  b.mov(adjustment, udpChecksumAdjustment(listenPort, dnsPort));

  b.label('checksum');
  applyUdpChecksumAdjustment(b, { base: data, offset: at.udp + Udp.checksum, adjustment, scratch: port, whenAbsent: 'pass' });

  b.label('pass');
  b.ret(XdpAction.PASS);
  return b.assemble();
}
