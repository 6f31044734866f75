/**
 * Loading an ELF object (clang's or bpfgen's): its maps are created once
 * and shared by its programs, as libbpf does, and each program is loaded
 * with loadProgram.
 */
import { readFileSync } from 'node:fs';
import { readObject } from '../asm/elf/reader.js';
import type { BpfObject } from '../asm/elf/reader.js';
import { createMap, type AnyMap, type MapHandle } from './maps.js';
import { loadProgram, type LoadOptions, type Program } from './program.js';

export interface LoadObjectOptions extends Omit<LoadOptions, 'maps'> {
  /** Load only these programs (by name); all by default. */
  readonly programs?: readonly string[];
}

/** An object's programs and maps in the kernel; `close` releases them all. */
export class LoadedObject {
  constructor(
    readonly object: BpfObject,
    /** By program (function) name. */
    readonly programs: ReadonlyMap<string, Program>,
    /** By map name; shared by the programs. */
    readonly maps: ReadonlyMap<string, AnyMap>,
  ) {}

  program(name: string): Program {
    const program = this.programs.get(name);
    if (!program) throw new RangeError(`the object has no loaded program ${name} (it has: ${[...this.programs.keys()].join(', ') || 'none'})`);
    return program;
  }

  close(): void {
    for (const program of this.programs.values()) program.close();
    for (const map of this.maps.values()) map.close();
  }
}

/**
 * Read the object at `path` (or its bytes) and load its programs; ElfError
 * for a malformed object, the loader's errors (VerifierError, ...) for a
 * program the kernel refuses. Nothing stays loaded after an error.
 */
export function loadObject(source: string | Uint8Array, options: LoadObjectOptions = {}): LoadedObject {
  const object = typeof source === 'string' ? readObject(new Uint8Array(readFileSync(source)), { file: source }) : readObject(source);
  const wanted = options.programs ?? object.programs.map((p) => p.name);
  for (const name of wanted) {
    if (!object.programs.some((p) => p.name === name)) {
      throw new RangeError(`the object has no program ${name} (it has: ${object.programs.map((p) => p.name).join(', ') || 'none'})`);
    }
  }
  const { programs: _only, ...loadOptions } = options;
  const maps = new Map<string, AnyMap>();
  const programs = new Map<string, Program>();
  try {
    for (const program of object.programs.filter((p) => wanted.includes(p.name))) {
      for (const def of program.maps) if (!maps.has(def.name)) maps.set(def.name, createMap(def));
      const shared = Object.fromEntries(program.maps.map((def) => [def.name, maps.get(def.name) as MapHandle]));
      programs.set(program.name, loadProgram(program, { ...loadOptions, maps: shared }));
    }
  } catch (error) {
    for (const program of programs.values()) program.close();
    for (const map of maps.values()) map.close();
    throw error;
  }
  return new LoadedObject(object, programs, maps);
}
