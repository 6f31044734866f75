/**
 * Links (network interfaces) over rtnetlink: looking one up by name or
 * index with RTM_GETLINK, reading which XDP programs it runs, and setting
 * its XDP program with RTM_SETLINK (linux/if_link.h, IFLA_XDP).
 */
import type { ErrnoHints } from '../errors.js';
import { NATIVE_LITTLE_ENDIAN } from '../attr.js';
import type { XdpModeName } from '../uapi.js';
import { attribute, Attributes, NetlinkDecodeError, splitPayload, type Attribute } from './message.js';
import type { NetlinkSocket } from './socket.js';

export const RTM_NEWLINK = 16;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;

const Ifla = { IFLA_IFNAME: 3, IFLA_EXT_MASK: 29, IFLA_XDP: 43 } as const;

export const IflaXdp = {
  IFLA_XDP_FD: 1,
  IFLA_XDP_ATTACHED: 2,
  IFLA_XDP_FLAGS: 3,
  IFLA_XDP_PROG_ID: 4,
  IFLA_XDP_DRV_PROG_ID: 5,
  IFLA_XDP_SKB_PROG_ID: 6,
  IFLA_XDP_HW_PROG_ID: 7,
  IFLA_XDP_EXPECTED_FD: 8,
} as const;

/** XDP_FLAGS_* besides the modes (which are XdpMode in uapi.ts). */
export const XdpFlags = {
  /** Fail with EBUSY if a program is attached already. */
  UPDATE_IF_NOEXIST: 1 << 0,
  /** Only if the program attached now is IFLA_XDP_EXPECTED_FD (Linux 5.7). */
  REPLACE: 1 << 4,
} as const;

/** RTEXT_FILTER_SKIP_STATS: leave the counters out of RTM_GETLINK replies, which we do not read. */
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
/** struct ifinfomsg: family, pad, type, index (s32), flags, change. */
const IFINFOMSG_SIZE = 16;
/** IFNAMSIZ less the NUL. */
const MAX_INTERFACE_NAME = 15;

/** IFLA_XDP_ATTACHED: where programs run; `multi` when more than one mode has one. */
export type XdpAttachedName = 'none' | 'driver' | 'skb' | 'hardware' | 'multi';
const XDP_ATTACHED: readonly XdpAttachedName[] = ['none', 'driver', 'skb', 'hardware', 'multi'];

export interface XdpState {
  readonly attached: XdpAttachedName;
  /** Program id per mode; a mode without a program is absent. */
  readonly programIds: Readonly<Partial<Record<XdpModeName, number>>>;
}

export interface LinkInfo {
  readonly index: number;
  readonly name: string;
  readonly xdp: XdpState;
}

export function ifinfomsg(index: number): Uint8Array {
  const bytes = new Uint8Array(IFINFOMSG_SIZE);
  new DataView(bytes.buffer).setInt32(4, index, NATIVE_LITTLE_ENDIAN);
  return bytes;
}

/** How to name an interface in messages: its name, or its index when that is all we have. */
export function describeInterface(iface: string | number): string {
  return typeof iface === 'number' ? `interface index ${iface}` : iface;
}

/** Look an interface up in this network namespace, by name or index. */
export function getLink(socket: NetlinkSocket, iface: string | number): LinkInfo {
  const byName = typeof iface === 'string';
  if (byName && (iface.length === 0 || new TextEncoder().encode(iface).byteLength > MAX_INTERFACE_NAME)) {
    throw new RangeError(`interface name ${JSON.stringify(iface)} is not valid: names have 1 to ${MAX_INTERFACE_NAME} bytes`);
  }
  if (!byName && (!Number.isInteger(iface) || iface <= 0 || iface > 0x7fffffff)) {
    throw new RangeError(`interface index ${iface} is not valid: indexes are positive 32-bit integers`);
  }
  const attributes: Attribute[] = [attribute.u32(Ifla.IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)];
  if (byName) attributes.push(attribute.string(Ifla.IFLA_IFNAME, iface));
  const hints: ErrnoHints = {
    ENODEV: byName ? `no network interface named ${iface} in this network namespace` : `no network interface has index ${iface} in this network namespace`,
  };
  const replies = socket.execute({ type: RTM_GETLINK, header: ifinfomsg(byName ? 0 : iface), attributes }, `looking up ${describeInterface(iface)} (RTM_GETLINK)`, hints);
  const where = `RTM_GETLINK reply for ${describeInterface(iface)}`;
  const reply = replies.find((message) => message.type === RTM_NEWLINK);
  if (!reply || replies.length !== 1) throw new NetlinkDecodeError(where, `expected one RTM_NEWLINK message, got ${replies.length} (types ${replies.map((m) => m.type).join(', ') || 'none'})`);
  return decodeLink(reply.payload, where);
}

/** An RTM_NEWLINK payload: ifinfomsg and the attributes we read. */
export function decodeLink(payload: Uint8Array, where: string): LinkInfo {
  const { header, attributes } = splitPayload(payload, IFINFOMSG_SIZE, where);
  const attrs = Attributes.decode(attributes, where, Ifla);
  const name = attrs.string(Ifla.IFLA_IFNAME);
  if (name === undefined) throw new NetlinkDecodeError(where, 'the link has no IFLA_IFNAME');
  const xdp = attrs.nested(Ifla.IFLA_XDP, IflaXdp);
  return { index: header.getInt32(4, NATIVE_LITTLE_ENDIAN), name, xdp: xdp ? decodeXdp(xdp) : { attached: 'none', programIds: {} } };
}

function decodeXdp(xdp: Attributes): XdpState {
  const code = xdp.u8(IflaXdp.IFLA_XDP_ATTACHED) ?? 0;
  const attached = XDP_ATTACHED[code];
  if (attached === undefined) throw new NetlinkDecodeError(xdp.where, `IFLA_XDP_ATTACHED is ${code}, which is not an XDP_ATTACHED_* value`);
  const programIds: Partial<Record<XdpModeName, number>> = {};
  const perMode: [XdpModeName, number][] = [
    ['skb', IflaXdp.IFLA_XDP_SKB_PROG_ID],
    ['driver', IflaXdp.IFLA_XDP_DRV_PROG_ID],
    ['hardware', IflaXdp.IFLA_XDP_HW_PROG_ID],
  ];
  for (const [mode, type] of perMode) {
    const id = xdp.u32(type);
    if (id) programIds[mode] = id;
  }
  // Kernels before 4.18 report only IFLA_XDP_PROG_ID, for the one mode in use.
  const single = xdp.u32(IflaXdp.IFLA_XDP_PROG_ID);
  if (single && attached !== 'none' && attached !== 'multi' && programIds[attached] === undefined) programIds[attached] = single;
  return { attached, programIds };
}

export interface XdpSetting {
  /** Program fd, or -1 to detach. */
  readonly fd: number;
  /** XdpMode and XdpFlags bits. */
  readonly flags: number;
  /** With XdpFlags.REPLACE: the fd of the program that must be attached now. */
  readonly expectedFd?: number;
}

/** Set (or clear) the XDP program of an interface. */
export function setLinkXdp(socket: NetlinkSocket, ifindex: number, setting: XdpSetting, operation: string, hints: ErrnoHints): void {
  const xdp = [attribute.s32(IflaXdp.IFLA_XDP_FD, setting.fd), attribute.u32(IflaXdp.IFLA_XDP_FLAGS, setting.flags)];
  if (setting.expectedFd !== undefined) xdp.push(attribute.s32(IflaXdp.IFLA_XDP_EXPECTED_FD, setting.expectedFd));
  socket.execute({ type: RTM_SETLINK, header: ifinfomsg(ifindex), attributes: [attribute.nested(Ifla.IFLA_XDP, xdp)] }, operation, hints);
}
