import { DslError } from '../errors.js';
import type { AssembledProgram, SourceLocation } from '../program.js';

/**
 * Build without capturing call sites, and capture them only if someone
 * needs them, by building again.
 *
 * Capturing is cheap while the building code is cold, but once V8 has
 * optimized it each capture has to reconstruct inlined frames from
 * deoptimization data: several µs per instruction, most of a build's time.
 * Programs are deterministic functions of their options, so the second
 * build reproduces the same instructions and only adds locations:
 *
 * - reading `sourceMap` builds again with capture on (once);
 * - a DslError during the build is replaced by the same error from a build
 *   with capture on, which names the exact line when the first could only
 *   name the assemble() call.
 */
export function buildWithSourceMapOnDemand(build: (captureSites: boolean) => AssembledProgram): AssembledProgram {
  let program: AssembledProgram;
  try {
    program = build(false);
  } catch (error) {
    if (error instanceof DslError) build(true);
    throw error;
  }
  const { sourceMap: _ignored, ...fields } = program;
  let sourceMap: readonly (SourceLocation | undefined)[] | undefined;
  return {
    ...fields,
    get sourceMap() {
      sourceMap ??= build(true).sourceMap;
      return sourceMap;
    },
  };
}
