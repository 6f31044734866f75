/**
 * What every attachable program shares, so that `bpfgen attach`, `bpfgen
 * detach` and the library treat them alike:
 *
 * - an Attachment describes itself, pins itself into a bpffs directory, and
 *   undoes only what it attached;
 * - ATTACHABLE lists the programs that can be attached, by CLI name (the
 *   same name as in PROGRAMS), with their attach options as data;
 * - detachPinned undoes what a pin directory records, whatever the program.
 *
 * The option kinds are in attach-options.ts, which the programs' own modules
 * import: this module imports them, not the other way round.
 */
import { rmdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { requireInterface, type AttachOptionSpec } from './attach-options.js';
import { linkDetachAttr, objGetAttr } from './attr.js';
import { Errno, ENOTSUPP } from './errno.js';
import { BpfError } from './errors.js';
import { bpfObjectKind } from './info.js';
import { PinDirectoryError, pinDirectoryEntries } from './pins.js';
import { bpfCall, bpfFd } from './syscall.js';
import { DNS_FORWARD_ATTACHABLE } from './dns-forward.js';
import { DNS_REDIRECT_ATTACHABLE } from './dns-redirect.js';
import { XDP_NETLINK_RECORD } from './xdp-attachment.js';
import { TC_NETLINK_RECORD } from './tc-attachment.js';

/** A program attached somewhere by this process. */
export interface Attachment {
  /** CLI name of the program (a key of ATTACHABLE). */
  readonly program: string;
  /** What was loaded and where it was attached, one fact per line, for `bpfgen attach` to print. */
  describe(): readonly string[];
  /**
   * Pin into `dir` (an empty directory on a bpf filesystem: see
   * preparePinDirectory) what keeps the attachment alive and what undoing it
   * needs, named as pins.ts describes. Returns the paths pinned.
   */
  pin(dir: string): readonly string[];
  /** Close our descriptors and leave the attachment in place: after pin(), the pins keep it. */
  release(): void;
  /** Undo the attachment (only what we attached), remove our pins and close our descriptors. Safe to call twice. */
  close(): Promise<void>;
}

/** A program `bpfgen attach` can attach. */
export interface AttachableProgram {
  /** CLI name, also its key in PROGRAMS when it loads one program (tc-dns-redirect loads two and has none). */
  readonly name: string;
  /** The kernel names of the programs it loads, by which detachFromInterface recognises them. */
  readonly kernelNames: readonly string[];
  /** Options of attaching; the program's build options come from its PROGRAMS entry, or are among these when it has none. */
  readonly options: readonly AttachOptionSpec[];
  /** Build, load and attach, with build and attach option values by name (strings from the command line, or typed values). */
  attach(values: Readonly<Record<string, unknown>>): Promise<Attachment>;
  /**
   * Remove this program from `iface` where bpfgen attached it without a
   * link (recognised by kernelNames); lines saying what was
   * removed, none when the interface does not run it.
   */
  detachFromInterface(iface: string): Promise<readonly string[]>;
}

export const ATTACHABLE: Readonly<Record<string, AttachableProgram>> = {
  'xdp-dns-forward': DNS_FORWARD_ATTACHABLE,
  'tc-dns-redirect': DNS_REDIRECT_ATTACHABLE,
};

/** The attachable program registered under a CLI name (own keys only). */
export function attachableNamed(name: string): AttachableProgram | undefined {
  return Object.hasOwn(ATTACHABLE, name) ? ATTACHABLE[name] : undefined;
}

/** Remove from `iface` every program bpfgen attached there without a link; lines saying what was removed. */
export async function detachInterface(iface: string): Promise<string[]> {
  requireInterface('--iface', iface);
  const done: string[] = [];
  for (const entry of Object.values(ATTACHABLE)) done.push(...(await entry.detachFromInterface(iface)));
  return done;
}

/** An attachment that is not a link, recorded in the name of its program's pin. */
export interface PinnedRecordKind {
  /** Whether the pin `name` is a record of this kind. */
  matches(name: string): boolean;
  /** Undo the attachment the pin `name` in `dir` records, making sure it is still ours; lines saying what was done. */
  undo(dir: string, name: string): Promise<readonly string[]>;
}

/** Kinds of records, one per way of attaching without a link. */
const RECORD_KINDS: readonly PinnedRecordKind[] = [XDP_NETLINK_RECORD, TC_NETLINK_RECORD];

const OBJECT_PREFIXES = ['link_', 'prog_', 'map_'];

/** LINK_DETACH on a pinned link: the attachment ends even if another process still holds the link. */
function detachPinnedLink(path: string): string {
  const owned = bpfFd(objGetAttr(path), `link pinned at ${path}`, {
    ENOENT: `nothing is pinned at ${path}`,
    // Pins are files of their creator's (mode 0600): opening another user's takes root, or CAP_DAC_OVERRIDE.
    EACCES: `this user may not open the pin ${path} (mode 0600, owned by whoever pinned it): run as root, or with CAP_DAC_OVERRIDE`,
  });
  try {
    const kind = bpfObjectKind(owned.value);
    if (kind !== 'link') throw new PinDirectoryError(path, `holds a bpf ${kind}, not a link`);
    try {
      bpfCall(linkDetachAttr(owned.value));
    } catch (error) {
      // Links that cannot be detached explicitly end when their last reference (this pin) goes.
      if (!(error instanceof BpfError && (error.errno === Errno.EOPNOTSUPP || error.errno === ENOTSUPP))) throw error;
      return `unpinned the link at ${path}, which ends it`;
    }
    return `detached the link pinned at ${path}`;
  } finally {
    owned.close();
  }
}

/**
 * Undo what the pin directory `dir` records and remove it: links are
 * detached, programs attached without a link are removed from their
 * interface (only if it still runs them), and the pins and the directory go.
 * A directory holding anything bpfgen did not pin is left untouched.
 */
export async function detachPinned(dir: string): Promise<string[]> {
  const entries = pinDirectoryEntries(dir);
  const recordKind = (name: string) => RECORD_KINDS.find((kind) => kind.matches(name));
  const unknown = entries.filter((name) => !OBJECT_PREFIXES.some((prefix) => name.startsWith(prefix)) && !recordKind(name));
  if (unknown.length > 0) throw new PinDirectoryError(dir, `holds ${unknown.join(', ')}, which bpfgen did not pin there; nothing was detached`);
  if (entries.length === 0) throw new PinDirectoryError(dir, 'holds nothing: no attachment is pinned there');
  const done: string[] = [];
  for (const name of entries) {
    if (name.startsWith('link_')) done.push(detachPinnedLink(join(dir, name)));
    else done.push(...(await recordKind(name)?.undo(dir, name) ?? []));
  }
  for (const name of entries) unlinkSync(join(dir, name));
  rmdirSync(dir);
  done.push(`removed ${dir} and its ${entries.length} pin${entries.length === 1 ? '' : 's'}`);
  return done;
}
