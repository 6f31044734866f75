/**
 * Source lines for `.BTF.ext` line_info: a record wherever the location
 * changes, carrying the file, line, column and the text of that line, which
 * `bpftool prog dump xlated` prints above the instructions (and the verifier
 * in its log). For DSL programs the location is the TypeScript line that
 * emitted the instruction.
 */
import { readFileSync } from 'node:fs';
import type { LineInfo } from '../btf/ext.js';
import type { SourceLocation } from '../program.js';

/** The text of a source file, or undefined when it cannot be read. */
export type SourceText = (file: string) => string | undefined;

/** Read source files from disk (paths relative to the working directory), once each. */
export function sourceFromDisk(): SourceText {
  const cache = new Map<string, string | undefined>();
  return (file) => {
    if (!cache.has(file)) {
      try {
        cache.set(file, readFileSync(file, 'utf8'));
      } catch {
        cache.set(file, undefined); // a missing source costs only the line text
      }
    }
    return cache.get(file);
  };
}

/** Line `n` (1-based) of a file, or `file:line` when the source is not available. */
export function sourceLineText(source: SourceText): (at: SourceLocation) => string {
  const split = new Map<string, readonly string[] | undefined>();
  return (at) => {
    if (!split.has(at.file)) split.set(at.file, source(at.file)?.split('\n'));
    const line = split.get(at.file)?.[at.line - 1];
    return line === undefined ? `${at.file}:${at.line}` : line.trimEnd();
  };
}

/**
 * Line records for the instructions [start, end) of a program, placed at
 * `sectionOffset(index)` bytes in their section. Undefined when the first
 * instruction has no known location and none follows: the kernel needs a
 * record at the start of every function, or no line info at all.
 */
export function lineRecords(
  sourceMap: readonly (SourceLocation | undefined)[],
  start: number,
  end: number,
  sectionOffset: (index: number) => number,
  text: (at: SourceLocation) => string,
): LineInfo[] | undefined {
  const known = sourceMap.slice(start, end).findIndex((at) => at !== undefined);
  if (known < 0) return undefined;
  const records: LineInfo[] = [];
  let previous: SourceLocation | undefined;
  for (let index = start; index < end; index++) {
    // The function's first instruction takes the first known location after it.
    const at = index === start ? sourceMap[start + known]! : sourceMap[index];
    if (!at || (previous && at.file === previous.file && at.line === previous.line && at.column === previous.column)) continue;
    records.push({ insnOffset: sectionOffset(index), file: at.file, text: text(at), line: at.line, column: at.column ?? 0 });
    previous = at;
  }
  return records;
}
