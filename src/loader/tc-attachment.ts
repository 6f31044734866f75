/**
 * Attaching any tc (sched_cls) program to an interface's ingress or egress,
 * the way bpfgen attaches: through a tcx link (Linux 6.6) where the kernel
 * has tcx, or through netlink (a direct-action cls_bpf filter on a clsact
 * qdisc) where it does not or when asked. Either way the attachment can
 * swap its program atomically, pin itself, and undo only itself.
 *
 * A tcx link ends with its last reference (this process, or a pin). A
 * filter outlives the process, so it is removed explicitly, naming the
 * program it expects to remove, and the clsact qdisc goes too if we created
 * it and nothing else uses it. When pinned, the program of a filter is
 * pinned under a record name that says where the filter is and whether we
 * created the qdisc:
 *
 *   tc-netlink-<direction>-<priority>-<handle>-<created|existing>-<ifindex>-<ifname>
 *
 * which `bpfgen detach --pin` reads (TC_NETLINK_RECORD).
 */
import { runAllSteps } from './cleanup.js';
import { join } from 'node:path';
import type { PinnedRecordKind } from './attachment.js';
import { interfaceIndex, type Link } from './link.js';
import type { TcDirection } from './netlink/tc.js';
import { escapePinComponent, PinSet, unescapePinComponent } from './pins.js';
import { probeFeature } from './probes/index.js';
import { openPinnedProgram, type Program } from './program.js';
import { attachTcFilter, detachTcFilter, ensureClsact, listTcFilters, removeClsactIfCreated, type ClsactState, type TcFilterAttachment } from './tc-netlink.js';
import { attachTcx } from './tcx.js';

/** How to attach: tcx, netlink, or tcx where the kernel has it and netlink where not. */
export const TC_ATTACH_METHODS = ['auto', 'tcx', 'netlink'] as const;
export type TcAttachMethod = (typeof TC_ATTACH_METHODS)[number];

/** Where a netlink filter goes unless told otherwise: the first priority, handle 1. */
export const DEFAULT_TC_FILTER = { priority: 1, handle: 1 } as const;

export interface TcAttachOptions {
  readonly iface: string;
  readonly direction: TcDirection;
  readonly method: TcAttachMethod;
  /** Netlink only: the filter's priority (1-65535) and handle; DEFAULT_TC_FILTER by default. */
  readonly priority?: number;
  readonly handle?: number;
}

type Hook = { readonly kind: 'tcx'; readonly link: Link } | { readonly kind: 'netlink'; filter: TcFilterAttachment; readonly clsact: ClsactState };

function chooseMethod(method: TcAttachMethod): 'tcx' | 'netlink' {
  if (method !== 'auto') return method;
  return probeFeature('link:tcx').supported ? 'tcx' : 'netlink';
}

/** Add the filter, creating clsact if needed; a qdisc we created is removed again if the filter cannot be added. */
function attachFilter(program: Program, options: TcAttachOptions): Hook {
  const clsact = ensureClsact(options.iface);
  try {
    const filter = attachTcFilter(program, clsact.ifindex, options.direction, {
      priority: options.priority ?? DEFAULT_TC_FILTER.priority,
      handle: options.handle ?? DEFAULT_TC_FILTER.handle,
    });
    return { kind: 'netlink', filter, clsact };
  } catch (error) {
    removeClsactIfCreated(clsact);
    throw error;
  }
}

/** A tc program attached by this process. It owns the program: swapping or closing closes it. */
export class TcAttachment {
  #program: Program;
  readonly #hook: Hook;
  #pins: PinSet | undefined;
  #programPin: string | undefined;
  #closed = false;

  private constructor(
    program: Program,
    hook: Hook,
    readonly iface: string,
    readonly ifindex: number,
    readonly direction: TcDirection,
  ) {
    this.#program = program;
    this.#hook = hook;
  }

  /** Attach `program`, whose ownership passes to the attachment (it is closed if attaching fails). */
  static attach(program: Program, options: TcAttachOptions): TcAttachment {
    try {
      const ifindex = interfaceIndex(options.iface);
      const hook: Hook =
        chooseMethod(options.method) === 'tcx' ? { kind: 'tcx', link: attachTcx(program, ifindex, options.direction) } : attachFilter(program, options);
      return new TcAttachment(program, hook, options.iface, ifindex, options.direction);
    } catch (error) {
      program.close();
      throw error;
    }
  }

  get program(): Program {
    return this.#program;
  }

  get method(): 'tcx' | 'netlink' {
    return this.#hook.kind;
  }

  /**
   * Put `next` in the place of the running program in one step: LINK_UPDATE
   * naming the program expected in place, or a filter replace at the same
   * priority and handle (RTM_NEWTFILTER with NLM_F_REPLACE, after checking
   * that the filter still runs our program). Every packet meets one program
   * or the other. Takes ownership of `next` (closed if the swap fails) and
   * closes the old program.
   */
  swap(next: Program): void {
    const previous = this.#program;
    const hook = this.#hook;
    try {
      if (hook.kind === 'tcx') {
        hook.link.update(next, previous);
      } else {
        hook.filter = attachTcFilter(next, this.ifindex, this.direction, { priority: hook.filter.priority, handle: hook.filter.handle, replace: previous });
      }
    } catch (error) {
      next.close();
      throw error;
    }
    this.#program = next;
    if (this.#pins) this.#pins.replace(this.#programPin!, (path) => next.pin(path));
    previous.close();
  }

  #recordName(): string {
    const hook = this.#hook;
    if (hook.kind !== 'netlink') throw new Error('only a netlink attachment has a record name');
    const qdisc = hook.clsact.created ? 'created' : 'existing';
    return `tc-netlink-${this.direction}-${hook.filter.priority}-${hook.filter.handle}-${qdisc}-${this.ifindex}-${escapePinComponent(this.iface)}`;
  }

  /** Pin the link (tcx) and the program (under its record name for netlink) into `dir`. */
  pin(dir: string): readonly string[] {
    if (this.#pins) throw new Error(`this tc attachment is already pinned in ${this.#pins.dir}`);
    const pins = new PinSet(dir);
    try {
      if (this.#hook.kind === 'tcx') pins.link(`tcx-${this.direction}-${this.iface}`, this.#hook.link);
      this.#programPin = pins.program(this.#program, this.#hook.kind === 'tcx' ? undefined : this.#recordName());
    } catch (error) {
      pins.unpin();
      throw error;
    }
    this.#pins = pins;
    return pins.paths;
  }

  /** Remove our pins, keeping the attachment. */
  unpin(): void {
    this.#pins?.unpin();
    this.#pins = undefined;
  }

  /** Close our descriptors, leaving the attachment to its pins (or, through netlink, to the interface). */
  release(): void {
    this.#closed = true;
    if (this.#hook.kind === 'tcx') this.#hook.link.close();
    this.#program.close();
  }

  /** Detach (only our program, and a qdisc only we created), remove our pins, close our descriptors. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const hook = this.#hook;
    runAllSteps([
      ...(hook.kind === 'tcx' ? [() => hook.link.detach(), () => hook.link.close()] : [() => hook.filter.detach(), () => removeClsactIfCreated(hook.clsact)]),
      () => this.#pins?.unpin(),
      () => this.#program.close(),
    ]);
  }

  /** What is attached where, for the CLI. */
  describe(): string {
    const program = `${this.#program.name} (id ${this.#program.id}, tag ${this.#program.tag})`;
    const where = `${this.iface} (ifindex ${this.ifindex}) ${this.direction}`;
    const hook = this.#hook;
    if (hook.kind === 'tcx') return `attached  ${program} to ${where} through tcx (a bpf_link, BPF_LINK_CREATE)`;
    const qdisc = hook.clsact.created ? 'a clsact qdisc created for it' : 'the clsact qdisc it had';
    return `attached  ${program} to ${where} through netlink: a direct-action cls_bpf filter, priority ${hook.filter.priority}, handle ${hook.filter.handle}, on ${qdisc}`;
  }
}

const RECORD = /^tc-netlink-(ingress|egress)-(\d+)-(\d+)-(created|existing)-(\d+)-(.+)$/;

/**
 * The pinned record of a netlink tc attachment: undone by removing the
 * filter where the name says, if it still runs the pinned program, and the
 * clsact qdisc if the record says we created it and no filter is left.
 */
export const TC_NETLINK_RECORD: PinnedRecordKind = {
  matches: (name) => RECORD.test(name),
  async undo(dir, name) {
    const [, direction, priority, handle, qdisc, index, escapedName] = RECORD.exec(name)!;
    const iface = unescapePinComponent(escapedName!);
    const ifindex = Number(index);
    const program = openPinnedProgram(join(dir, name));
    try {
      const where = `the ${direction} of ${iface} (ifindex ${ifindex}) at priority ${priority}, handle ${handle}`;
      let filters;
      try {
        filters = listTcFilters(ifindex, direction as TcDirection);
      } catch (error) {
        throw new Error(
          `${join(dir, name)} records program id ${program.id} attached to ${where}, but this network namespace has no interface ${ifindex} ` +
            `(${error instanceof Error ? error.message : String(error)}); run bpfgen detach in the namespace it was attached in, or remove the pins with rm -r ${dir} if the interface is gone`,
        );
      }
      const current = filters.find((filter) => filter.priority === Number(priority) && filter.handle === Number(handle));
      if (current?.bpf?.programId !== program.id) {
        throw new Error(
          `${join(dir, name)} records program id ${program.id} attached to ${where}, but that filter ${current ? `runs program id ${current.bpf?.programId ?? 'unknown'}` : 'does not exist'}; ` +
            `nothing was detached (wrong network namespace? if it was removed by other means, remove the pins with rm -r ${dir})`,
        );
      }
      detachTcFilter(ifindex, direction as TcDirection, { priority: Number(priority), handle: Number(handle), expectedProgramId: program.id });
      const done = [`removed the filter running ${program.name} (id ${program.id}) from ${where}`];
      if (removeClsactIfCreated({ ifindex, iface, created: qdisc === 'created' })) done.push(`removed the clsact qdisc bpfgen had created on ${iface}`);
      return done;
    } finally {
      program.close();
    }
  },
};
