/**
 * The pin directory of an attachment: one directory of a bpf filesystem per
 * attachment, holding the objects that keep it alive and the records that
 * undoing it needs. bpffs holds only bpf objects (no files with text in
 * them), so what is not a link, program or map is recorded in pin names:
 *
 *   link_<what>          a bpf_link (e.g. link_xdp); undone with LINK_DETACH
 *   prog_<name>          a program, by its kernel name
 *   map_<name>           a map, by its kernel name
 *   <record>             a program attached without a link, named by the
 *                        attachment kind that knows how to undo it (e.g.
 *                        xdp-netlink-generic-1-lo: see xdp-attachment.ts)
 *
 * bpffs refuses names with dots, which kernel object and interface names may
 * contain, so name components escape '.' as %2E (and '%' as %25).
 */
import { mkdirSync, readdirSync, renameSync, rmdirSync, statfsSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Link } from './link.js';
import type { MapHandle } from './maps.js';
import type { Program } from './program.js';

/** statfs f_type of a bpf filesystem (BPF_FS_MAGIC in linux/magic.h). */
const BPF_FS_MAGIC = 0xcafe4a11;

/** A pin directory that cannot be used, naming it and why. */
export class PinDirectoryError extends Error {
  constructor(
    readonly dir: string,
    detail: string,
  ) {
    super(`${dir}: ${detail}`);
    this.name = 'PinDirectoryError';
  }
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function requireBpffs(dir: string, checked = dir): void {
  if (statfsSync(checked).type !== BPF_FS_MAGIC) {
    const where = checked === dir ? '' : ` (${checked}, where it would be created, is not)`;
    throw new PinDirectoryError(
      dir,
      `not on a bpf filesystem${where}: use a directory under a bpffs mount such as /sys/fs/bpf, or mount one with \`mount -t bpf bpf DIR\` ` +
        '(`ip netns exec` mounts a fresh /sys without /sys/fs/bpf)',
    );
  }
}

/** A pin directory made ready by preparePinDirectory. */
export interface PreparedPinDirectory {
  readonly dir: string;
  /** Directories that were created for it, outermost first (empty when it existed). */
  readonly created: readonly string[];
  /** Remove the directories that were created (after a failure); they must be empty again. */
  removeCreated(): void;
}

/**
 * Make `dir` ready to pin into: created (with missing parents) when it does
 * not exist, and otherwise required to be an empty directory; either way on
 * a bpf filesystem, which is checked before anything is created.
 */
export function preparePinDirectory(dir: string): PreparedPinDirectory {
  const missing: string[] = [];
  let existing = resolve(dir);
  for (;;) {
    try {
      if (!statSync(existing).isDirectory()) throw new PinDirectoryError(existing, 'exists and is not a directory');
      break;
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error instanceof PinDirectoryError ? error : new PinDirectoryError(existing, `cannot use it (${errnoCode(error) ?? String(error)})`);
      missing.unshift(existing);
      existing = dirname(existing);
    }
  }
  requireBpffs(dir, existing);
  const created: string[] = [];
  const removeCreated = () => {
    for (const path of [...created].reverse()) rmdirSync(path);
  };
  try {
    for (const path of missing) {
      try {
        // One level at a time: recursive mkdirSync spins forever on filesystems that answer ENOENT (sysfs).
        mkdirSync(path);
      } catch (error) {
        const code = errnoCode(error);
        throw new PinDirectoryError(dir, `cannot create ${path} (${code === 'EPERM' ? 'a bpf filesystem refuses names with dots' : code})`);
      }
      created.push(path);
    }
    const entries = readdirSync(dir);
    if (entries.length > 0) throw new PinDirectoryError(dir, `is not empty (it holds ${entries.slice(0, 5).join(', ')}${entries.length > 5 ? ', …' : ''}); give an empty or a new directory`);
  } catch (error) {
    removeCreated();
    throw error;
  }
  return { dir, created, removeCreated };
}

/** An object or interface name as a pin-name component: bpffs forbids dots. */
export function escapePinComponent(text: string): string {
  return text.replaceAll('%', '%25').replaceAll('.', '%2E');
}

export function unescapePinComponent(text: string): string {
  return text.replaceAll('%2E', '.').replaceAll('%25', '%');
}

/**
 * Pins made for one attachment, removed again in reverse order when the
 * attachment is undone by the process that made them.
 */
export class PinSet {
  readonly #paths: string[] = [];

  constructor(readonly dir: string) {}

  get paths(): readonly string[] {
    return this.#paths;
  }

  #pin(name: string, pin: (path: string) => void): string {
    const path = join(this.dir, name);
    pin(path);
    this.#paths.push(path);
    return path;
  }

  link(what: string, link: Link): string {
    return this.#pin(`link_${escapePinComponent(what)}`, (path) => link.pin(path));
  }

  /** A program, under `prog_<its kernel name>` or under a record name that says how it is attached. */
  program(program: Program, recordName?: string): string {
    return this.#pin(recordName ?? `prog_${escapePinComponent(program.name)}`, (path) => program.pin(path));
  }

  /** Every map of the program. */
  maps(program: Program): string[] {
    return [...program.maps.values()].map((map: MapHandle) => this.#pin(`map_${escapePinComponent(map.name)}`, (path) => map.pin(path)));
  }

  /**
   * Pin another object at one of our paths: pinned beside it and renamed
   * over it (bpffs supports rename), so the path never goes missing.
   */
  replace(path: string, pin: (path: string) => void): void {
    if (!this.#paths.includes(path)) throw new Error(`${path} is not one of the pins made here`);
    const beside = `${path}-new`;
    pin(beside);
    try {
      renameSync(beside, path);
    } catch (error) {
      unlinkSync(beside);
      throw error;
    }
  }

  /** Remove the pins, newest first. */
  unpin(): void {
    for (const path of this.#paths.splice(0).reverse()) {
      try {
        unlinkSync(path);
      } catch (error) {
        if (errnoCode(error) !== 'ENOENT') throw error;
      }
    }
  }
}

/** The names in a pin directory, which must exist on a bpf filesystem. */
export function pinDirectoryEntries(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (error) {
    const code = errnoCode(error);
    throw new PinDirectoryError(dir, code === 'ENOENT' ? 'no such directory' : code === 'ENOTDIR' ? 'not a directory' : `cannot read it (${code})`);
  }
  requireBpffs(dir);
  return entries.sort();
}
