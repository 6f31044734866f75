/**
 * Traffic control over rtnetlink: the clsact qdisc (RTM_*QDISC) and cls_bpf
 * filters on its ingress and egress hooks (RTM_*TFILTER), as in
 * linux/rtnetlink.h, linux/pkt_sched.h and linux/pkt_cls.h.
 */
import { NATIVE_LITTLE_ENDIAN } from '../attr.js';
import type { ErrnoHints } from '../errors.js';
import { attribute, Attributes, NetlinkDecodeError, NlmFlags, splitPayload } from './message.js';
import { NetlinkError, type NetlinkSocket } from './socket.js';

export const RTM_NEWQDISC = 36;
export const RTM_DELQDISC = 37;
export const RTM_GETQDISC = 38;
export const RTM_NEWTFILTER = 44;
export const RTM_DELTFILTER = 45;
export const RTM_GETTFILTER = 46;

const Tca = { TCA_KIND: 1, TCA_OPTIONS: 2, TCA_CHAIN: 11 } as const;

export const TcaBpf = {
  TCA_BPF_FD: 6,
  TCA_BPF_NAME: 7,
  TCA_BPF_FLAGS: 8,
  TCA_BPF_TAG: 10,
  TCA_BPF_ID: 11,
} as const;

/** TCA_BPF_FLAG_ACT_DIRECT: the program's return value is the verdict (TC_ACT_*), no action needed. */
export const TCA_BPF_FLAG_ACT_DIRECT = 1 << 0;

/** TC_H_CLSACT: where clsact sits; its handle is ffff:0, and its hooks are the minors ffff:fff2 and ffff:fff3. */
export const TC_H_CLSACT = 0xfffffff1;
const CLSACT_HANDLE = 0xffff0000;
const TC_H_MIN_INGRESS = 0xfff2;
const TC_H_MIN_EGRESS = 0xfff3;
/** ETH_P_ALL: a filter that sees every protocol. */
export const ETH_P_ALL = 0x0003;

export type TcDirection = 'ingress' | 'egress';

/** The parent handle of a clsact hook. */
export function clsactParent(direction: TcDirection): number {
  return (CLSACT_HANDLE | (direction === 'ingress' ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS)) >>> 0;
}

/** struct tcmsg: family, pads, ifindex (s32), handle, parent, info. */
const TCMSG_SIZE = 20;

interface TcmsgFields {
  readonly ifindex: number;
  readonly handle?: number;
  readonly parent?: number;
  readonly info?: number;
}

function tcmsg(fields: TcmsgFields): Uint8Array {
  const bytes = new Uint8Array(TCMSG_SIZE);
  const view = new DataView(bytes.buffer);
  view.setInt32(4, fields.ifindex, NATIVE_LITTLE_ENDIAN);
  view.setUint32(8, fields.handle ?? 0, NATIVE_LITTLE_ENDIAN);
  view.setUint32(12, fields.parent ?? 0, NATIVE_LITTLE_ENDIAN);
  view.setUint32(16, fields.info ?? 0, NATIVE_LITTLE_ENDIAN);
  return bytes;
}

const swap16 = (value: number): number => ((value & 0xff) << 8) | ((value >>> 8) & 0xff);

/** A filter's tcm_info: priority in the upper half, protocol in network byte order in the lower. */
function filterInfo(priority: number, protocol: number): number {
  return ((priority << 16) | swap16(protocol)) >>> 0;
}

function decodeTcmsg(payload: Uint8Array, where: string): { ifindex: number; handle: number; parent: number; info: number; attributes: Attributes } {
  const { header, attributes } = splitPayload(payload, TCMSG_SIZE, where);
  return {
    ifindex: header.getInt32(4, NATIVE_LITTLE_ENDIAN),
    handle: header.getUint32(8, NATIVE_LITTLE_ENDIAN),
    parent: header.getUint32(12, NATIVE_LITTLE_ENDIAN),
    info: header.getUint32(16, NATIVE_LITTLE_ENDIAN),
    attributes: Attributes.decode(attributes, where, Tca),
  };
}

function requiredKind(attributes: Attributes): string {
  const kind = attributes.string(Tca.TCA_KIND);
  if (kind === undefined) throw new NetlinkDecodeError(attributes.where, 'the object has no TCA_KIND');
  return kind;
}

export interface QdiscInfo {
  readonly ifindex: number;
  readonly handle: number;
  readonly parent: number;
  readonly kind: string;
}

/** The qdiscs of one interface. */
export function listQdiscs(socket: NetlinkSocket, ifindex: number, iface: string): QdiscInfo[] {
  const operation = `listing the qdiscs of ${iface} (RTM_GETQDISC)`;
  const where = `RTM_GETQDISC reply for ${iface}`;
  return socket
    .dump({ type: RTM_GETQDISC, header: tcmsg({ ifindex }) }, operation)
    .filter((message) => message.type === RTM_NEWQDISC)
    .map((message) => {
      const qdisc = decodeTcmsg(message.payload, where);
      return { ifindex: qdisc.ifindex, handle: qdisc.handle, parent: qdisc.parent, kind: requiredKind(qdisc.attributes) };
    })
    // Kernels before 4.x answered with every interface's qdiscs; keep ours.
    .filter((qdisc) => qdisc.ifindex === ifindex);
}

/** Create a clsact qdisc, exclusively: false when something already holds its place (EEXIST). */
export function createClsact(socket: NetlinkSocket, ifindex: number, iface: string): boolean {
  try {
    socket.execute(
      { type: RTM_NEWQDISC, flags: NlmFlags.CREATE | NlmFlags.EXCL, header: tcmsg({ ifindex, handle: CLSACT_HANDLE, parent: TC_H_CLSACT }), attributes: [attribute.string(Tca.TCA_KIND, 'clsact')] },
      `creating a clsact qdisc on ${iface} (RTM_NEWQDISC)`,
      { EOPNOTSUPP: `${iface} does not take a clsact qdisc`, ENOENT: 'the kernel has no clsact qdisc (CONFIG_NET_SCH_INGRESS)' },
    );
    return true;
  } catch (error) {
    if (error instanceof NetlinkError && error.code === 'EEXIST') return false;
    throw error;
  }
}

export function deleteClsact(socket: NetlinkSocket, ifindex: number, iface: string): void {
  socket.execute(
    { type: RTM_DELQDISC, header: tcmsg({ ifindex, handle: CLSACT_HANDLE, parent: TC_H_CLSACT }), attributes: [attribute.string(Tca.TCA_KIND, 'clsact')] },
    `removing the clsact qdisc of ${iface} (RTM_DELQDISC)`,
    { ENOENT: `${iface} has no clsact qdisc`, EINVAL: `${iface} has no clsact qdisc` },
  );
}

export interface TcFilterInfo {
  readonly priority: number;
  readonly handle: number;
  /** EtherType the filter matches (ETH_P_ALL = 3 for all). */
  readonly protocol: number;
  /** The classifier, "bpf" for cls_bpf. */
  readonly kind: string;
  readonly chain: number;
  /** For cls_bpf filters: the program and how it runs. */
  readonly bpf?: {
    readonly programId?: number;
    readonly programName?: string;
    readonly directAction: boolean;
    /** 16 hex digits, as bpftool prints. */
    readonly tag?: string;
  };
}

const hex = (bytes: Uint8Array): string => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');

/** The filters on one hook of an interface's clsact qdisc. */
export function listFilters(socket: NetlinkSocket, ifindex: number, iface: string, direction: TcDirection): TcFilterInfo[] {
  const operation = `listing the ${direction} filters of ${iface} (RTM_GETTFILTER)`;
  const where = `RTM_GETTFILTER reply for ${iface} ${direction}`;
  return socket
    .dump({ type: RTM_GETTFILTER, header: tcmsg({ ifindex, parent: clsactParent(direction) }) }, operation)
    .filter((message) => message.type === RTM_NEWTFILTER)
    .map((message) => decodeFilter(message.payload, where))
    .filter((filter) => filter !== undefined);
}

/**
 * An RTM_NEWTFILTER payload. A dump announces each priority once with
 * handle 0 (the classifier itself, not a filter): that gives undefined.
 */
export function decodeFilter(payload: Uint8Array, where: string): TcFilterInfo | undefined {
  const filter = decodeTcmsg(payload, where);
  if (filter.handle === 0) return undefined;
  const kind = requiredKind(filter.attributes);
  const base = { priority: filter.info >>> 16, handle: filter.handle, protocol: swap16(filter.info & 0xffff), kind, chain: filter.attributes.u32(Tca.TCA_CHAIN) ?? 0 };
  const options = kind === 'bpf' ? filter.attributes.nested(Tca.TCA_OPTIONS, TcaBpf) : undefined;
  if (!options) return base;
  const programId = options.u32(TcaBpf.TCA_BPF_ID);
  const programName = options.string(TcaBpf.TCA_BPF_NAME);
  const tag = options.bytes(TcaBpf.TCA_BPF_TAG);
  const bpf = {
    ...(programId !== undefined ? { programId } : {}),
    ...(programName !== undefined ? { programName } : {}),
    directAction: ((options.u32(TcaBpf.TCA_BPF_FLAGS) ?? 0) & TCA_BPF_FLAG_ACT_DIRECT) !== 0,
    ...(tag !== undefined ? { tag: hex(tag) } : {}),
  };
  return { ...base, bpf };
}

export interface BpfFilterSetting {
  readonly ifindex: number;
  readonly direction: TcDirection;
  readonly priority: number;
  readonly handle: number;
  readonly programFd: number;
  /** Shown by `tc filter show` as the filter's name. */
  readonly programName: string;
  /** Change the program of the existing filter at this priority and handle, instead of creating one. */
  readonly replace: boolean;
}

/** Add a cls_bpf filter in direct-action mode for all protocols, or swap the program of an existing one. */
export function setBpfFilter(socket: NetlinkSocket, setting: BpfFilterSetting, operation: string, hints: ErrnoHints): void {
  socket.execute(
    {
      type: RTM_NEWTFILTER,
      // Without CREATE the kernel changes only a filter that exists; with EXCL it never changes one.
      flags: setting.replace ? 0 : NlmFlags.CREATE | NlmFlags.EXCL,
      header: tcmsg({ ifindex: setting.ifindex, handle: setting.handle, parent: clsactParent(setting.direction), info: filterInfo(setting.priority, ETH_P_ALL) }),
      attributes: [
        attribute.string(Tca.TCA_KIND, 'bpf'),
        attribute.nested(Tca.TCA_OPTIONS, [
          attribute.u32(TcaBpf.TCA_BPF_FD, setting.programFd),
          attribute.string(TcaBpf.TCA_BPF_NAME, setting.programName),
          attribute.u32(TcaBpf.TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT),
        ]),
      ],
    },
    operation,
    hints,
  );
}

export interface FilterAddress {
  readonly ifindex: number;
  readonly direction: TcDirection;
  readonly priority: number;
  readonly handle: number;
}

/** Delete one cls_bpf filter, named by priority and handle (a handle of 0 would delete every filter of the priority). */
export function deleteBpfFilter(socket: NetlinkSocket, address: FilterAddress, operation: string, hints: ErrnoHints): void {
  if (address.handle === 0) throw new RangeError('a filter handle of 0 would delete every filter of the priority');
  socket.execute(
    {
      type: RTM_DELTFILTER,
      header: tcmsg({ ifindex: address.ifindex, handle: address.handle, parent: clsactParent(address.direction), info: filterInfo(address.priority, ETH_P_ALL) }),
      attributes: [attribute.string(Tca.TCA_KIND, 'bpf')],
    },
    operation,
    hints,
  );
}
