/**
 * BPF links (LINK_CREATE): attachments owned by a file descriptor, undone
 * when the last reference to the link goes away.
 */
import { linkCreateAttr, linkDetachAttr, linkUpdateAttr, objPinAttr } from './attr.js';
import { isSyscallError, errnoName } from './errno.js';
import { pinHints } from './maps.js';
import { native } from './native.js';
import type { Program } from './program.js';
import { bpfCall, bpfFd, type OwnedFd } from './syscall.js';
import { XdpMode, type AttachTypeName, type XdpModeName } from './uapi.js';

export class Link {
  constructor(
    private readonly owned: OwnedFd,
    readonly attachType: AttachTypeName,
  ) {}

  get fd(): number {
    return this.owned.value;
  }

  get closed(): boolean {
    return this.owned.closed;
  }

  /** Swap in another program atomically; with `expected`, only if the link still runs that one. */
  update(program: Program, expected?: Program): void {
    bpfCall(linkUpdateAttr(this.fd, program.fd, expected?.fd), {
      EPERM: 'the link still runs a program other than the expected one',
      EINVAL: `the new program does not fit this ${this.attachType} link (program type or expected attach type differ)`,
    });
  }

  /** Undo the attachment while keeping the descriptor (Linux 5.9); closing it is still needed. */
  detach(): void {
    bpfCall(linkDetachAttr(this.fd), { EOPNOTSUPP: `${this.attachType} links cannot be detached explicitly; close them` });
  }

  /** Pin to a bpf filesystem, so that the attachment outlives this process. */
  pin(path: string): void {
    bpfCall(objPinAttr(this.fd, path), pinHints(path));
  }

  /** Closing the last reference to a link detaches it. */
  close(): void {
    this.owned.close();
  }
}

export interface LinkOptions {
  readonly flags?: number;
}

/** Attach `program` to `target` (an fd or an interface index, depending on the attach type). */
export function createLink(program: Program, target: number, attachType: AttachTypeName, options: LinkOptions = {}): Link {
  const owned = bpfFd(linkCreateAttr({ progFd: program.fd, target, attachType, flags: options.flags }), `${attachType} link of ${program.name}`, {
    EINVAL: `program ${program.name} cannot be attached as ${attachType} (its type or expected attach type differ, or the flags are wrong)`,
    EBUSY: `another program is already attached as ${attachType} to target ${target}`,
    EEXIST: `an XDP program is already attached to interface ${target} without a link`,
    ENODEV: `no network interface has index ${target}`,
  });
  return new Link(owned, attachType);
}

/** The index of a network interface, e.g. `lo` → 1. */
export function interfaceIndex(name: string): number {
  try {
    return native().if_nametoindex(name);
  } catch (error) {
    if (isSyscallError(error)) throw new Error(`no network interface named ${name} (${errnoName(error.errno)})`);
    throw error;
  }
}

/** Attach an XDP program to an interface through a link (Linux 5.9); the mode defaults to the driver's choice. */
export function attachXdp(program: Program, iface: string | number, mode?: XdpModeName): Link {
  const index = typeof iface === 'number' ? iface : interfaceIndex(iface);
  return createLink(program, index, 'xdp', { flags: mode ? XdpMode[mode] : 0 });
}
