/**
 * Attaching any XDP program to an interface, the way bpfgen attaches: through
 * a bpf_link (Linux 5.9) where the kernel has XDP links, or through netlink
 * (RTM_SETLINK) where it does not or when asked. Either way the attachment
 * can swap its program atomically, pin itself, and undo only itself.
 *
 * A link ends with the last reference to it (this process, or a pin). A
 * netlink attachment outlives the process, so it is removed explicitly,
 * naming the program it expects to remove. When pinned, the program is
 * pinned under a record name that says where the netlink attachment is:
 *
 *   xdp-netlink-<mode>-<ifindex>-<ifname>     e.g. xdp-netlink-generic-1-lo
 *
 * which `bpfgen detach --pin` reads (XDP_NETLINK_RECORD).
 */
import { runAllSteps } from './cleanup.js';
import { join } from 'node:path';
import type { AttachOptionSpec } from './attach-options.js';
import type { PinnedRecordKind } from './attachment.js';
import { Errno, ENOTSUPP } from './errno.js';
import { BpfError, PermissionError } from './errors.js';
import { programInfo, openProgramById } from './info.js';
import { attachXdp, type Link } from './link.js';
import { escapePinComponent, PinSet, unescapePinComponent } from './pins.js';
import { probeFeature } from './probes/index.js';
import { openPinnedProgram, type Program } from './program.js';
import type { XdpModeName } from './uapi.js';
import { attachXdpNetlink, detachXdpNetlink, queryXdp, type XdpQuery } from './xdp-netlink.js';

/** XDP modes by the names the CLI and the library use, and the kernel's names for them. */
export const XDP_ATTACH_MODES = { generic: 'skb', native: 'driver', offload: 'hardware' } as const satisfies Record<string, XdpModeName>;
export type XdpAttachMode = keyof typeof XDP_ATTACH_MODES;

/** How to attach: through a bpf_link, through netlink, or a link where the kernel has XDP links and netlink where not. */
export const XDP_ATTACH_METHODS = ['auto', 'link', 'netlink'] as const;
export type XdpAttachMethod = (typeof XDP_ATTACH_METHODS)[number];

/** The attach options every XDP program takes (`bpfgen attach PROGRAM --iface … --mode … --attach … --replace`). */
export const XDP_ATTACH_OPTIONS = [
  { name: 'iface', flag: '--iface', kind: 'interface', default: 'lo', help: 'network interface to attach to' },
  {
    name: 'mode',
    flag: '--mode',
    kind: 'choice',
    choices: Object.keys(XDP_ATTACH_MODES),
    default: 'generic',
    help: 'generic (run by the network stack, any device: the one lo has), native (by the driver), offload (by the NIC)',
  },
  {
    name: 'attach',
    flag: '--attach',
    kind: 'choice',
    choices: XDP_ATTACH_METHODS,
    default: 'auto',
    help: 'link (a bpf_link, Linux 5.9+), netlink (RTM_SETLINK), or auto: a link where the kernel has XDP links',
  },
  { name: 'replace', flag: '--replace', kind: 'switch', default: false, help: 'replace an XDP program the interface already runs (atomically, through netlink)' },
] as const satisfies readonly AttachOptionSpec[];

const modeByKernelName = new Map(Object.entries(XDP_ATTACH_MODES).map(([mode, kernel]) => [kernel as XdpModeName, mode as XdpAttachMode]));

export interface XdpAttachOptions {
  readonly iface: string;
  readonly mode: XdpAttachMode;
  readonly method: XdpAttachMethod;
  /**
   * Swap out a program the interface already runs in this mode (atomically,
   * through netlink). Without it, such an interface is an error.
   */
  readonly replace?: boolean;
}

/**
 * What an interface runs stands in the way: it has an XDP program already
 * (and replacing it was not asked for, or cannot be done this way), or it
 * does not run the program a pin records.
 */
export class XdpStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XdpStateError';
  }
}

/** The kernel name of an attached program, or undefined when it cannot be opened (it went away). */
export function attachedProgramName(id: number): string | undefined {
  try {
    const owned = openProgramById(id);
    try {
      return programInfo(owned.value).name;
    } finally {
      owned.close();
    }
  } catch (error) {
    // Without privileges every program looks foreign; say so rather than "not ours".
    if (error instanceof PermissionError) throw error;
    return undefined;
  }
}

/** `id 12 (xdp_dns_fwd)`, or just the id when the program cannot be opened. */
function describeProgramId(id: number): string {
  const name = attachedProgramName(id);
  return name === undefined ? `id ${id}` : `id ${id} (${name})`;
}

function describeAttached(query: XdpQuery): string {
  return Object.entries(query.programIds)
    .map(([kernelMode, id]) => `${describeProgramId(id)} in ${modeByKernelName.get(kernelMode as XdpModeName)} mode`)
    .join(', ');
}

function chooseMethod(method: XdpAttachMethod): 'link' | 'netlink' {
  if (method !== 'auto') return method;
  return probeFeature('link:xdp').supported ? 'link' : 'netlink';
}

/** XDP modes a device may lack, and what that means. */
const MODE_UNSUPPORTED: Readonly<Record<XdpAttachMode, string>> = {
  generic: 'generic XDP is not available on it',
  native: 'its driver has no XDP of its own (use generic mode)',
  offload: 'its hardware cannot run XDP programs (use generic or native mode)',
};

function linkOrExplain(program: Program, iface: string, ifindex: number, mode: XdpAttachMode): Link {
  try {
    return attachXdp(program, ifindex, XDP_ATTACH_MODES[mode]);
  } catch (error) {
    // EOPNOTSUPP is also named ENOTSUP; ENOTSUPP (524) is the kernel's own.
    if (error instanceof BpfError && (error.errno === Errno.EOPNOTSUPP || error.errno === ENOTSUPP)) {
      throw new XdpStateError(`${iface} does not support ${mode} XDP: ${MODE_UNSUPPORTED[mode]}`);
    }
    throw error;
  }
}

/** An XDP program attached by this process. It owns the program: swapping or closing closes it. */
export class XdpAttachment {
  #program: Program;
  #link: Link | undefined;
  #pins: PinSet | undefined;
  #programPin: string | undefined;
  #closed = false;

  private constructor(
    program: Program,
    link: Link | undefined,
    readonly iface: string,
    readonly ifindex: number,
    readonly mode: XdpAttachMode,
  ) {
    this.#program = program;
    this.#link = link;
  }

  /**
   * Attach `program` (whose ownership passes to the attachment, also when
   * attaching fails: it is closed then). Errors name the interface and what
   * stands in the way.
   */
  static attach(program: Program, options: XdpAttachOptions): XdpAttachment {
    try {
      const now = queryXdp(options.iface);
      const ifindex = now.ifindex;
      const kernelMode = XDP_ATTACH_MODES[options.mode];
      const current = now.programIds[kernelMode];
      const others = Object.keys(now.programIds).filter((mode) => mode !== kernelMode);
      if (others.length > 0) {
        throw new XdpStateError(`${options.iface} runs XDP in another mode (${describeAttached(now)}); an interface runs one of generic and native XDP, not both`);
      }
      if (current !== undefined && !options.replace) {
        throw new XdpStateError(`${options.iface} already has an XDP program (${describeAttached(now)}); pass replace (--replace) to swap it for this one, or detach it first`);
      }
      const method = current !== undefined ? 'netlink' : chooseMethod(options.method);
      if (current !== undefined && options.method === 'link') {
        throw new XdpStateError(`${options.iface} already has an XDP program (${describeAttached(now)}), and a bpf link cannot take the place of another program; replace it through netlink`);
      }
      if (method === 'link') {
        return new XdpAttachment(program, linkOrExplain(program, options.iface, ifindex, options.mode), options.iface, ifindex, options.mode);
      }
      attachXdpNetlink(program, ifindex, { mode: kernelMode, ...(current !== undefined ? { replace: current } : {}) });
      return new XdpAttachment(program, undefined, options.iface, ifindex, options.mode);
    } catch (error) {
      program.close();
      throw error;
    }
  }

  get program(): Program {
    return this.#program;
  }

  get method(): 'link' | 'netlink' {
    return this.#link ? 'link' : 'netlink';
  }

  /**
   * Put `next` in the place of the running program in one step (LINK_UPDATE,
   * or a netlink replace naming the program expected in place), so every
   * packet meets one or the other. Takes ownership of `next` (closed if the
   * swap fails) and closes the old program.
   */
  swap(next: Program): void {
    const previous = this.#program;
    try {
      if (this.#link) this.#link.update(next, previous);
      else attachXdpNetlink(next, this.ifindex, { mode: XDP_ATTACH_MODES[this.mode], replace: previous });
    } catch (error) {
      next.close();
      throw error;
    }
    this.#program = next;
    if (this.#pins) this.#repinProgram(this.#pins);
    previous.close();
  }

  #recordName(): string {
    return `xdp-netlink-${this.mode}-${this.ifindex}-${escapePinComponent(this.iface)}`;
  }

  /** The pin of the running program: its record name for netlink, prog_<name> beside a link. */
  #pinProgram(pins: PinSet): void {
    this.#programPin = pins.program(this.#program, this.#link ? undefined : this.#recordName());
  }

  /** Point the program's pin at the new program: pinned beside it and renamed over it, so the pin is never missing. */
  #repinProgram(pins: PinSet): void {
    pins.replace(this.#programPin!, (path) => this.#program.pin(path));
  }

  /** Pin the link (if any), the program and its maps into `dir`; see the file comment for the names. */
  pin(dir: string, maps: boolean = true): readonly string[] {
    if (this.#pins) throw new Error(`this XDP attachment is already pinned in ${this.#pins.dir}`);
    const pins = new PinSet(dir);
    try {
      if (this.#link) pins.link('xdp', this.#link);
      this.#pinProgram(pins);
      if (maps) pins.maps(this.#program);
    } catch (error) {
      pins.unpin();
      throw error;
    }
    this.#pins = pins;
    return pins.paths;
  }

  /** Close our descriptors, leaving the attachment to its pins (or, through netlink, to the interface). */
  release(): void {
    this.#closed = true;
    this.#link?.close();
    this.#program.close();
  }

  /** Detach (only our program), remove our pins, close our descriptors. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const link = this.#link;
    runAllSteps([
      ...(link
        ? [() => link.detach(), () => link.close()]
        : [() => detachXdpNetlink(this.ifindex, { mode: XDP_ATTACH_MODES[this.mode], expectedProgramId: this.#program.id })]),
      () => this.#pins?.unpin(),
      () => this.#program.close(),
    ]);
  }

  /** What is attached where, for the CLI, as the kernel reports it now (netlink query). */
  describe(): string[] {
    const now = queryXdp(this.ifindex);
    const id = now.programIds[XDP_ATTACH_MODES[this.mode]];
    const how = this.#link ? 'a bpf_link (BPF_LINK_CREATE)' : 'netlink (RTM_SETLINK with IFLA_XDP)';
    return [
      `attached  ${this.#program.name} (id ${this.#program.id}, tag ${this.#program.tag}) to ${this.iface} (ifindex ${this.ifindex}) in ${this.mode} mode through ${how}`,
      `kernel    ${this.iface} reports XDP ${now.attached} with program id ${id ?? 'none'}${id === this.#program.id ? '' : ' (not ours!)'}`,
    ];
  }
}

const RECORD = /^xdp-netlink-(generic|native|offload)-(\d+)-(.+)$/;

/** The pinned record of a netlink XDP attachment: undone by detaching the pinned program from where the name says. */
export const XDP_NETLINK_RECORD: PinnedRecordKind = {
  matches: (name) => RECORD.test(name),
  async undo(dir, name) {
    const [, mode, index, escapedName] = RECORD.exec(name)!;
    const iface = unescapePinComponent(escapedName!);
    const ifindex = Number(index);
    const kernelMode = XDP_ATTACH_MODES[mode as XdpAttachMode];
    const program = openPinnedProgram(join(dir, name));
    try {
      const where = `${iface} (ifindex ${ifindex}) in ${mode} mode`;
      let now: XdpQuery;
      try {
        now = queryXdp(ifindex);
      } catch (error) {
        throw new XdpStateError(`${join(dir, name)} records program id ${program.id} attached to ${where}, but this network namespace has no interface ${ifindex} (${error instanceof Error ? error.message : String(error)}); run bpfgen detach in the namespace it was attached in, or remove the pins with rm -r ${dir} if the interface is gone`);
      }
      if (now.programIds[kernelMode] !== program.id) {
        throw new XdpStateError(
          `${join(dir, name)} records program id ${program.id} attached to ${where}, but ${now.iface} runs ${describeAttached(now) || 'no XDP program'}; ` +
            `nothing was detached (wrong network namespace? if it was detached by other means, remove the pins with rm -r ${dir})`,
        );
      }
      detachXdpNetlink(ifindex, { mode: kernelMode, expectedProgramId: program.id });
      return [`detached ${program.name} (id ${program.id}) from ${where} through netlink`];
    } finally {
      program.close();
    }
  },
};
