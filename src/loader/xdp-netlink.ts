/**
 * XDP through rtnetlink (RTM_SETLINK with IFLA_XDP): the way to attach on
 * kernels without XDP links (before 5.9), and to see what is attached
 * however it got there. Unlike a link, such an attachment outlives the
 * process, so detaching names the program it expects to remove and the
 * kernel removes nothing else (XDP_FLAGS_REPLACE, Linux 5.7).
 */
import { release } from 'node:os';
import { BpfError, FeatureError, type ErrnoHints } from './errors.js';
import { openProgramById } from './info.js';
import { getLink, setLinkXdp, XdpFlags, type LinkInfo, type XdpAttachedName } from './netlink/link.js';
import { NetlinkError, withRouteSocket, type NetlinkSocket } from './netlink/socket.js';
import type { Program } from './program.js';
import type { OwnedFd } from './syscall.js';
import { kernelAtLeast, XdpMode, type XdpModeName } from './uapi.js';

const MODE_DESCRIPTION: Readonly<Record<XdpModeName, string>> = {
  skb: 'generic (skb)',
  driver: 'native (driver)',
  hardware: 'offload (hardware)',
};

/** Drivers without offload refuse it with EOPNOTSUPP or, like veth, EINVAL. */
function offloadHints(iface: string): ErrnoHints {
  const explanation = `${iface} does not support offload (hardware) XDP, which needs a NIC that runs XDP itself and a program loaded for that device; use generic (skb) or native (driver) mode`;
  return { EOPNOTSUPP: explanation, EINVAL: explanation };
}

/** XDP_FLAGS_REPLACE and IFLA_XDP_EXPECTED_FD. */
const REPLACE_SINCE = '5.7';

export interface XdpQuery {
  readonly ifindex: number;
  readonly iface: string;
  /** IFLA_XDP_ATTACHED: the mode with a program, `multi` when several have one, or `none`. */
  readonly attached: XdpAttachedName;
  /** Program id per mode; a mode without a program is absent. */
  readonly programIds: Readonly<Partial<Record<XdpModeName, number>>>;
}

export interface XdpNetlinkOptions {
  readonly mode: XdpModeName;
  /**
   * The program (or program id) attached in `mode` now, to be swapped out
   * atomically. Without it, an interface that has a program already is an error.
   */
  readonly replace?: Program | number;
}

/** An XDP program attached through netlink; it stays attached until detached, also after this process exits. */
export class XdpNetlinkAttachment {
  constructor(
    readonly ifindex: number,
    readonly iface: string,
    readonly mode: XdpModeName,
    readonly programId: number,
  ) {}

  /** Detach this program; a program attached in its place since is left alone (and the call fails). */
  detach(): void {
    detachXdpNetlink(this.ifindex, { mode: this.mode, expectedProgramId: this.programId });
  }
}

function toQuery(link: LinkInfo): XdpQuery {
  return { ifindex: link.index, iface: link.name, attached: link.xdp.attached, programIds: link.xdp.programIds };
}

/** Which XDP programs an interface runs, per mode. */
export function queryXdp(iface: string | number): XdpQuery {
  return withRouteSocket((socket) => toQuery(getLink(socket, iface)));
}

function describeAttached(query: XdpQuery): string {
  const parts = Object.entries(query.programIds).map(([mode, id]) => `id ${id} in ${MODE_DESCRIPTION[mode as XdpModeName]} mode`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

function programInMode(query: XdpQuery, mode: XdpModeName): string {
  const id = query.programIds[mode];
  return id === undefined ? 'no program' : `program id ${id}`;
}

/**
 * Replace a failure's explanation with one that says what is attached
 * now, read after the failure; EINVAL on a kernel too old for
 * XDP_FLAGS_REPLACE becomes a FeatureError.
 */
function explained(error: unknown, socket: NetlinkSocket, ifindex: number, usedReplace: boolean, explain: (now: XdpQuery, code: string) => string | undefined): unknown {
  if (!(error instanceof NetlinkError)) return error;
  if (usedReplace && error.code === 'EINVAL' && !kernelAtLeast(release(), REPLACE_SINCE)) {
    return new FeatureError('XDP_FLAGS_REPLACE (replacing or detaching only an expected XDP program through netlink)', REPLACE_SINCE, release());
  }
  const explanation = explain(toQuery(getLink(socket, ifindex)), error.code);
  return explanation ? new NetlinkError(error.operation, error.errno, explanation, error.kernelMessage) : error;
}

/** EBUSY on a change: the program in place belongs to a bpf link, which netlink may not touch. */
function ownedByLink(iface: string, modeText: string): string {
  return `the ${modeText} XDP program of ${iface} is attached through a bpf link; update, detach or close that link instead`;
}

function expectedProgramFd(expected: Program | number): { fd: number; id: number; owned?: OwnedFd } {
  if (typeof expected !== 'number') return { fd: expected.fd, id: expected.id };
  const owned = openProgramById(expected);
  return { fd: owned.value, id: expected, owned };
}

/** Attach `program` to an interface of this network namespace in `mode`; replace another only when `options.replace` names it. */
export function attachXdpNetlink(program: Program, iface: string | number, options: XdpNetlinkOptions): XdpNetlinkAttachment {
  const { mode } = options;
  const modeText = MODE_DESCRIPTION[mode];
  return withRouteSocket((socket) => {
    const link = getLink(socket, iface);
    const expected = options.replace === undefined ? undefined : expectedProgramFd(options.replace);
    try {
      const flags = XdpMode[mode] | (expected ? XdpFlags.REPLACE : XdpFlags.UPDATE_IF_NOEXIST);
      const operation = `attaching XDP program ${program.name} to ${link.name} in ${modeText} mode (RTM_SETLINK)`;
      setLinkXdp(socket, link.index, { fd: program.fd, flags, expectedFd: expected?.fd }, operation, mode === 'hardware' ? offloadHints(link.name) : {
        EOPNOTSUPP: `${link.name} does not support ${modeText} XDP`,
        EINVAL: `the kernel refused program ${program.name} for ${modeText} XDP on ${link.name}: it must be an XDP program`,
      });
    } catch (error) {
      throw explained(error, socket, link.index, expected !== undefined, (now, code) => {
        if (code === 'EBUSY' && !expected) {
          return `${link.name} already has an XDP program (${describeAttached(now)}); pass replace with that program to swap it`;
        }
        if (code === 'EBUSY') return ownedByLink(link.name, modeText);
        if (code === 'EEXIST' && expected && now.programIds[mode] !== expected.id) {
          return `${link.name} runs ${programInMode(now, mode)} in ${modeText} mode, not the expected program id ${expected.id}; nothing was replaced`;
        }
        if (code === 'EEXIST') return `${link.name} has an XDP program in another mode (${describeAttached(now)}); an interface runs generic or native XDP, not both`;
        return undefined;
      });
    } finally {
      expected?.owned?.close();
    }
    return new XdpNetlinkAttachment(link.index, link.name, mode, program.id);
  });
}

export interface XdpDetachOptions {
  readonly mode: XdpModeName;
  /** The program to remove; whatever else is attached stays. */
  readonly expectedProgramId: number;
}

/** Detach the program `expectedProgramId` from an interface, and nothing else. */
export function detachXdpNetlink(iface: string | number, options: XdpDetachOptions): void {
  const { mode, expectedProgramId } = options;
  const modeText = MODE_DESCRIPTION[mode];
  withRouteSocket((socket) => {
    const link = getLink(socket, iface);
    const notAttached = (now: XdpQuery): string =>
      `${link.name} runs ${programInMode(now, mode)} in ${modeText} mode, not program id ${expectedProgramId}; nothing was detached`;
    let expected: OwnedFd;
    try {
      expected = openProgramById(expectedProgramId);
    } catch (error) {
      // A program that no longer exists is attached nowhere.
      if (error instanceof BpfError && error.code === 'ENOENT') throw new Error(`${notAttached(toQuery(link))} (no program has id ${expectedProgramId} any more)`);
      throw error;
    }
    try {
      const operation = `detaching XDP program id ${expectedProgramId} from ${link.name} in ${modeText} mode (RTM_SETLINK)`;
      setLinkXdp(socket, link.index, { fd: -1, flags: XdpMode[mode] | XdpFlags.REPLACE, expectedFd: expected.value }, operation, {
        EOPNOTSUPP: `${link.name} does not support ${modeText} XDP`,
      });
    } catch (error) {
      throw explained(error, socket, link.index, true, (now, code) => {
        if (code === 'EEXIST') return notAttached(now);
        if (code === 'EBUSY') return ownedByLink(link.name, modeText);
        return undefined;
      });
    } finally {
      expected.close();
    }
  });
}
