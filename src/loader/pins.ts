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
 *                        xdp-netlink_generic_1_lo: see xdp-attachment.ts)
 *
 * bpffs refuses names with dots, which kernel object and interface names may
 * contain, so name components escape '.' as %2E (and '%' as %25).
 */
import { mkdirSync, readdirSync, renameSync, rmdirSync, statfsSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
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

function requireBpffs(dir: string): void {
  if (statfsSync(dir).type !== BPF_FS_MAGIC) {
    throw new PinDirectoryError(dir, 'not on a bpf filesystem (use a directory under /sys/fs/bpf, or mount one with `mount -t bpf bpf DIR`)');
  }
}

/**
 * Make `dir` ready to pin into: created (with its parents) when missing, and
 * otherwise required to be an empty directory; in both cases on a bpf
 * filesystem. Returns whether it was created.
 */
export function preparePinDirectory(dir: string): boolean {
  let created = false;
  try {
    if (!statSync(dir).isDirectory()) throw new PinDirectoryError(dir, 'exists and is not a directory');
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error instanceof PinDirectoryError ? error : new PinDirectoryError(dir, `cannot use it (${errnoCode(error) ?? String(error)})`);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (mkdirError) {
      const code = errnoCode(mkdirError);
      const why = code === 'EPERM' ? 'a bpf filesystem refuses names with dots' : code === 'ENOENT' ? 'its parent does not exist' : code;
      throw new PinDirectoryError(dir, `cannot create it (${why})`);
    }
    created = true;
  }
  try {
    requireBpffs(dir);
    const entries = readdirSync(dir);
    if (entries.length > 0) throw new PinDirectoryError(dir, `is not empty (it holds ${entries.slice(0, 5).join(', ')}${entries.length > 5 ? ', …' : ''}); give an empty or a new directory`);
  } catch (error) {
    if (created) rmdirSync(dir);
    throw error;
  }
  return created;
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
