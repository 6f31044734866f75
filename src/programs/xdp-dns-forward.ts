import { be16, ipv4 } from '../asm/byteorder.js';
import { buildWithSourceMapOnDemand, ProgramBuilder, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10 } from '../asm/dsl/index.js';
import {
  applyUdpChecksumAdjustment,
  Ipv4,
  loadPacketPointers,
  ONES_COMPLEMENT_MODULUS,
  requireIpv4Udp,
  Udp,
  udpChecksumAdjustment,
  XdpAction,
} from '../asm/packet.js';
import type { AssembledProgram, MapDefinition } from '../asm/program.js';
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

/**
 * The map-configured variant, as NetBird does it: the program carries no
 * settings, and reads dnsIp, dnsPort and listenPort from entry 0 of an
 * array map on every packet, so that user space can change them while the
 * program stays attached. The entry is 8 bytes laid out as the packet has
 * them (network order): dnsIp at 0, dnsPort at 4, listenPort at 6 (see
 * dnsForwardConfigValue). Each is read with a load of the width the packet
 * field is read with, so the comparisons need no byte swapping on any host.
 *
 * The checksum adjustment that the inline program computes while building
 * is computed per packet here, from the two ports just read.
 *
 * A map update is not atomic for a program reading the entry at the same
 * moment: a packet processed during the write may see some fields old and
 * some new. Each packet is still rewritten consistently with the values it
 * read (its checksum stays correct).
 */
export const DNS_FORWARD_CONFIG_MAP: MapDefinition = { name: 'dns_fwd_cfg', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 };

/** Kernel-visible name of the map-configured variant. */
const MAP_PROGRAM_NAME = 'xdp_dns_fwd_map';

/** The kernel names of both variants, by which a loaded xdp-dns-forward is recognised. */
export const XDP_DNS_FORWARD_KERNEL_NAMES: readonly string[] = [PROGRAM_NAME, MAP_PROGRAM_NAME];

/** Where each setting sits in the config entry. */
const CONFIG_AT = { dnsIp: 0, dnsPort: 4, listenPort: 6 } as const;

/** The config map entry for `input` (validated, defaults filled in), in the layout the map variant reads. */
export function dnsForwardConfigValue(input: Readonly<Record<string, unknown>> = {}): Uint8Array {
  const options = resolveOptions(XDP_DNS_FORWARD_OPTIONS, input);
  const value = new Uint8Array(DNS_FORWARD_CONFIG_MAP.valueSize);
  const view = new DataView(value.buffer);
  value.set(options.dnsIp.split('.').map(Number), CONFIG_AT.dnsIp);
  view.setUint16(CONFIG_AT.dnsPort, options.dnsPort, false);
  view.setUint16(CONFIG_AT.listenPort, options.listenPort, false);
  return value;
}

export function buildXdpDnsForwardMapConfigured(settings: BuildSettings = {}): AssembledProgram {
  return settings.captureSites === undefined ? buildWithSourceMapOnDemand(emitMapConfigured) : emitMapConfigured(settings.captureSites);
}

function emitMapConfigured(captureSites: boolean): AssembledProgram {
  const b = new ProgramBuilder({ name: MAP_PROGRAM_NAME, type: 'xdp', license: 'GPL', captureSites, maps: [DNS_FORWARD_CONFIG_MAP] });
  // The map lookup clobbers r1-r5, so what lives across it is in r6-r9.
  const data = r6;
  const dnsIp = r7;
  const dnsPort = r8;
  const listenPort = r9;
  const dataEnd = r3;
  const scratch = r4;
  const port = r2;
  const address = r3;
  const adjustment = r5;

  loadPacketPointers(b, 'xdp', r1, { data, dataEnd });
  const at = requireIpv4Udp(b, { data, dataEnd, scratch }, 'pass');
  const dport = at.udp + Udp.dport;
  const sport = at.udp + Udp.sport;

  // config = map_lookup_elem(&dns_fwd_cfg, &0), looked up only for IPv4/UDP.
  b.st('u32', r10, -4, 0);
  b.mov(r2, r10);
  b.add(r2, -4);
  b.ldMap(r1, DNS_FORWARD_CONFIG_MAP.name);
  b.call('map_lookup_elem', r1, r2);
  b.jeq(r0, 0, 'pass');
  b.ldx('u32', dnsIp, r0, CONFIG_AT.dnsIp);
  b.ldx('u16', dnsPort, r0, CONFIG_AT.dnsPort);
  b.ldx('u16', listenPort, r0, CONFIG_AT.listenPort);

  // Query: dnsIp:dnsPort -> dnsIp:listenPort.
  b.ldx('u16', port, data, dport);
  b.jne(port, dnsPort, 'reply');
  b.ldx('u32', address, data, at.ip + Ipv4.daddr);
  b.jne(address.w, dnsIp.w, 'reply');
  b.stx('u16', data, dport, listenPort);
  b.mov(adjustment, dnsPort);
  b.sub(adjustment, listenPort);
  b.ja('checksum');

  // Reply: dnsIp:listenPort -> dnsIp:dnsPort.
  b.label('reply');
  b.ldx('u16', port, data, sport);
  b.jne(port, listenPort, 'pass');
  b.ldx('u32', address, data, at.ip + Ipv4.saddr);
  b.jne(address.w, dnsIp.w, 'pass');
  b.stx('u16', data, sport, dnsPort);
  b.mov(adjustment, listenPort);
  b.sub(adjustment, dnsPort);

  // old - new is in -0xfffe..0xfffe; udpChecksumAdjustment's value is ((old - new) mod 0xffff) - 1.
  b.label('checksum');
  b.jsge(adjustment, 0, 'adjustment_sign_known');
  b.add(adjustment, ONES_COMPLEMENT_MODULUS);
  b.label('adjustment_sign_known');
  b.add(adjustment, -1);
  applyUdpChecksumAdjustment(b, { base: data, offset: at.udp + Udp.checksum, adjustment, scratch: port, whenAbsent: 'pass' });

  b.label('pass');
  b.ret(XdpAction.PASS);
  return b.assemble();
}
