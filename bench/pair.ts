/**
 * A bpfgen program and its clang-built reference, built for the same
 * options and loaded side by side.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readObject } from '../src/asm/elf/index.js';
import type { AssembledProgram } from '../src/asm/program.js';
import { loadProgram, type Program } from '../src/loader/index.js';
import { compileReference } from './clang.js';
import type { Options, Reference } from './references.js';

export interface BuiltPair {
  readonly reference: Reference;
  readonly options: Options;
  /** bpfgen's program. */
  readonly ours: AssembledProgram;
  /** clang's object file and the program read from it. */
  readonly object: string;
  readonly theirs: AssembledProgram;
}

export interface LoadedPair extends BuiltPair {
  readonly loadedOurs: Program;
  readonly loadedTheirs: Program;
  close(): void;
}

/** A file name for the object built from `source` with these defines. */
function objectName(reference: Reference, options: Options): string {
  const defines = Object.entries(reference.defines(options)).map(([name, value]) => `${name}=${value}`).join(',');
  return `${reference.source.replace(/\.c$/, '')}${defines ? `-${Buffer.from(defines).toString('base64url')}` : ''}.o`;
}

/** Build both for `options`; clang writes its object into `workdir`. */
export function buildPair(reference: Reference, options: Options, workdir: string): BuiltPair {
  const object = join(workdir, objectName(reference, options));
  compileReference(reference.source, object, { defines: reference.defines(options), btf: reference.btf });
  const theirs = readObject(new Uint8Array(readFileSync(object)), { file: object }).programs.find((p) => p.name === reference.function);
  if (!theirs) throw new Error(`${object}: no program ${reference.function}`);
  if (theirs.type !== reference.type) throw new Error(`${object}: ${reference.function} is a ${theirs.type} program, not ${reference.type}`);
  return { reference, options, ours: reference.build(options), object, theirs };
}

/** Load both and write their settings into their maps when they have any. */
export function loadPair(built: BuiltPair): LoadedPair {
  const loadedOurs = loadProgram(built.ours);
  let loadedTheirs: Program | undefined;
  try {
    loadedTheirs = loadProgram(built.theirs);
    built.reference.configure?.(loadedOurs, built.options);
    built.reference.configure?.(loadedTheirs, built.options);
  } catch (error) {
    loadedOurs.close();
    loadedTheirs?.close();
    throw error;
  }
  const theirs = loadedTheirs;
  return {
    ...built,
    loadedOurs,
    loadedTheirs: theirs,
    close: () => {
      loadedOurs.close();
      theirs.close();
    },
  };
}
