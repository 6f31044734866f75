/**
 * tc programs through rtnetlink: a clsact qdisc, and cls_bpf filters in
 * direct-action mode on its ingress and egress hooks. This is how tc
 * programs are attached on kernels without tcx (before 6.6). Such filters
 * outlive the process, so each is named by priority and handle, and
 * removing one first checks that it still runs our program.
 */
import { getLink, type LinkInfo } from './netlink/link.js';
import { NetlinkError, withRouteSocket, type NetlinkSocket } from './netlink/socket.js';
import {
  createClsact,
  deleteBpfFilter,
  deleteClsact,
  listFilters,
  listQdiscs,
  setBpfFilter,
  TC_H_CLSACT,
  type TcDirection,
  type TcFilterInfo,
} from './netlink/tc.js';
import type { Program } from './program.js';

export interface ClsactState {
  readonly ifindex: number;
  readonly iface: string;
  /** Whether ensureClsact created the qdisc (false: it was there already). */
  readonly created: boolean;
}

/** Make sure the interface has a clsact qdisc, creating it if missing. */
export function ensureClsact(iface: string | number): ClsactState {
  return withRouteSocket((socket) => {
    const link = getLink(socket, iface);
    if (createClsact(socket, link.index, link.name)) return { ifindex: link.index, iface: link.name, created: true };
    const holder = listQdiscs(socket, link.index, link.name).find((qdisc) => qdisc.parent === TC_H_CLSACT);
    if (holder?.kind === 'clsact') return { ifindex: link.index, iface: link.name, created: false };
    throw new Error(
      `${link.name} has ${holder ? `an ${holder.kind} qdisc` : 'a qdisc'} in the place clsact needs (parent ffff:fff1); ` +
        `clsact does everything ingress does: remove it (\`tc qdisc del dev ${link.name} ${holder?.kind ?? 'ingress'}\`) and its filters with it, or use tcx`,
    );
  });
}

function hasClsact(socket: NetlinkSocket, link: LinkInfo): boolean {
  return listQdiscs(socket, link.index, link.name).some((qdisc) => qdisc.parent === TC_H_CLSACT && qdisc.kind === 'clsact');
}

/**
 * Remove the clsact qdisc if ensureClsact created it and no filter is left
 * on it (removing it would remove other programs' filters too). Returns
 * whether it was removed.
 */
export function removeClsactIfCreated(state: ClsactState): boolean {
  if (!state.created) return false;
  return withRouteSocket((socket) => {
    const link = getLink(socket, state.ifindex);
    if (!hasClsact(socket, link)) return false;
    const remaining = (['ingress', 'egress'] as const).some((direction) => listFilters(socket, link.index, link.name, direction).length > 0);
    if (remaining) return false;
    deleteClsact(socket, link.index, link.name);
    return true;
  });
}

/** The filters on the ingress or egress hook of an interface; none when it has no clsact qdisc. */
export function listTcFilters(iface: string | number, direction: TcDirection): TcFilterInfo[] {
  return withRouteSocket((socket) => {
    const link = getLink(socket, iface);
    return hasClsact(socket, link) ? listFilters(socket, link.index, link.name, direction) : [];
  });
}

export interface TcFilterOptions {
  /** 1 to 65535; lower runs first. 1 by default. */
  readonly priority?: number;
  /** 1 to 2^32-1, unique within the priority. 1 by default. */
  readonly handle?: number;
  /**
   * The program (or program id) that the filter at this priority and
   * handle runs now, to be swapped for the new one in place. Without it,
   * an existing filter there is an error.
   */
  readonly replace?: Program | number;
}

/** A cls_bpf filter we added; it stays until removed, also after this process exits. */
export class TcFilterAttachment {
  constructor(
    readonly ifindex: number,
    readonly iface: string,
    readonly direction: TcDirection,
    readonly priority: number,
    readonly handle: number,
    readonly programId: number,
  ) {}

  /** Remove this filter, if it still runs our program. */
  detach(): void {
    detachTcFilter(this.ifindex, this.direction, { priority: this.priority, handle: this.handle, expectedProgramId: this.programId });
  }
}

function checkRange(what: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 1 || value > max) throw new RangeError(`tc filter ${what} ${value} is out of range: it must be 1 to ${max}`);
}

function describeFilter(iface: string, direction: TcDirection, priority: number, handle: number): string {
  return `the ${direction} filter of ${iface} at priority ${priority}, handle ${handle}`;
}

function filterAt(socket: NetlinkSocket, link: LinkInfo, direction: TcDirection, priority: number, handle: number): TcFilterInfo | undefined {
  return listFilters(socket, link.index, link.name, direction).find((filter) => filter.priority === priority && filter.handle === handle);
}

function describeProgram(filter: TcFilterInfo | undefined): string {
  if (!filter) return 'does not exist';
  if (filter.kind !== 'bpf') return `is a ${filter.kind} filter`;
  return `runs program id ${filter.bpf?.programId ?? 'unknown'}`;
}

/** Add a cls_bpf filter running `program` in direct-action mode; the interface needs a clsact qdisc (ensureClsact). */
export function attachTcFilter(program: Program, iface: string | number, direction: TcDirection, options: TcFilterOptions = {}): TcFilterAttachment {
  const { priority = 1, handle = 1 } = options;
  checkRange('priority', priority, 0xffff);
  checkRange('handle', handle, 0xffffffff);
  return withRouteSocket((socket) => {
    const link = getLink(socket, iface);
    const place = describeFilter(link.name, direction, priority, handle);
    const replace = options.replace !== undefined;
    if (options.replace !== undefined) {
      // tc has no compare-and-swap: the check and the change are two requests.
      const expectedId = typeof options.replace === 'number' ? options.replace : options.replace.id;
      const current = filterAt(socket, link, direction, priority, handle);
      if (current?.bpf?.programId !== expectedId) throw new Error(`${place} ${describeProgram(current)}, not the expected program id ${expectedId}; nothing was replaced`);
    }
    const operation = `${replace ? 'replacing the program of' : 'adding'} ${place} with ${program.name} (RTM_NEWTFILTER)`;
    try {
      setBpfFilter(socket, { ifindex: link.index, direction, priority, handle, programFd: program.fd, programName: program.name, replace }, operation, {
        EINVAL: `the kernel refused program ${program.name} as a direct-action cls_bpf filter: it must be a sched_cls (or sched_act) program`,
      });
    } catch (error) {
      if (!(error instanceof NetlinkError)) throw error;
      const explanation = explainFilterFailure(socket, link, direction, priority, handle, error.code);
      throw explanation ? new NetlinkError(error.operation, error.errno, explanation, error.kernelMessage) : error;
    }
    return new TcFilterAttachment(link.index, link.name, direction, priority, handle, program.id);
  });
}

/** Why adding a filter failed, read from what the interface has now. */
function explainFilterFailure(socket: NetlinkSocket, link: LinkInfo, direction: TcDirection, priority: number, handle: number, code: string): string | undefined {
  if (!hasClsact(socket, link)) return `${link.name} has no clsact qdisc: create it first (ensureClsact)`;
  const filters = listFilters(socket, link.index, link.name, direction);
  const existing = filters.find((filter) => filter.priority === priority && filter.handle === handle);
  if (code === 'EEXIST' && existing) {
    return `${link.name} already has an ${direction} filter at priority ${priority}, handle ${handle} (it ${describeProgram(existing)}); pass replace with its program to swap it, or choose another priority or handle`;
  }
  const other = filters.find((filter) => filter.priority === priority && filter.kind !== 'bpf');
  if (code === 'EINVAL' && other) return `priority ${priority} on the ${direction} of ${link.name} holds ${other.kind} filters; a priority has one classifier kind: choose another priority`;
  return undefined;
}

export interface TcDetachOptions {
  readonly priority: number;
  readonly handle: number;
  /** The program the filter must run; otherwise nothing is removed. */
  readonly expectedProgramId: number;
}

/**
 * Remove the cls_bpf filter at this priority and handle if it runs
 * `expectedProgramId`. tc has no compare-and-delete, so the check and the
 * delete are two requests; a filter replaced in between would be removed.
 */
export function detachTcFilter(iface: string | number, direction: TcDirection, options: TcDetachOptions): void {
  const { priority, handle, expectedProgramId } = options;
  checkRange('priority', priority, 0xffff);
  checkRange('handle', handle, 0xffffffff);
  withRouteSocket((socket) => {
    const link = getLink(socket, iface);
    const place = describeFilter(link.name, direction, priority, handle);
    const current = hasClsact(socket, link) ? filterAt(socket, link, direction, priority, handle) : undefined;
    if (current?.bpf?.programId !== expectedProgramId) throw new Error(`${place} ${describeProgram(current)}, not program id ${expectedProgramId}; nothing was detached`);
    deleteBpfFilter(socket, { ifindex: link.index, direction, priority, handle }, `removing ${place} (RTM_DELTFILTER)`, {});
  });
}
