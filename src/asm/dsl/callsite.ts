import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceLocation } from '../program.js';

/**
 * Call sites of DSL methods, captured cheaply and formatted only when needed.
 *
 * Capturing is the expensive part of the DSL (about 3 µs per instruction on
 * Node 20, measured in test/dsl.test.ts), so it takes one frame only:
 * `Error.captureStackTrace(holder, entry)` drops every frame up to and
 * including the public DSL method `entry`, leaving exactly the user's call.
 * V8 turns the frame into text on the first read of `holder.stack`, through
 * whatever `Error.prepareStackTrace` is installed then; that is what makes
 * locations source-mapped under vitest or `node --enable-source-maps`.
 */

/** An unformatted capture; read it with `locate`. */
export interface CapturedSite {
  readonly stack?: unknown;
}

/** The public DSL method the user called; frames from it inward are dropped. */
export type Entry = Function;

/**
 * Frames inside the assembler (the DSL and building blocks such as
 * packet.ts) are library internals: the call site is the first frame of the
 * program that used them.
 */
const DSL_DIR = dirname(dirname(fileURLToPath(import.meta.url))) + sep;

/** Frames captured per instruction: the user's call plus room for building blocks that call the DSL. */
const INSTRUCTION_FRAMES = 4;

/** Frames kept when capturing for an error: enough to step over DSL frames that `entry` did not cover. */
const ERROR_FRAMES = 12;

export function captureSite(entry: Entry, frames = INSTRUCTION_FRAMES): CapturedSite {
  const holder: { stack?: unknown } = {};
  const savedLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = frames;
  Error.captureStackTrace(holder, entry);
  Error.stackTraceLimit = savedLimit;
  return holder;
}

/** The location of whoever called `entry`, formatted now; used for errors. */
export function callerLocation(entry: Entry): SourceLocation | undefined {
  return locate(captureSite(entry, ERROR_FRAMES));
}

/** The first frame of a capture that lies outside the DSL, or undefined when there is none. */
export function locate(site: CapturedSite | undefined): SourceLocation | undefined {
  const stack = site?.stack;
  if (typeof stack === 'string') {
    for (const line of stack.split('\n')) {
      const frame = parseFrame(line);
      if (frame && !frame.file.startsWith(DSL_DIR)) return display(frame);
    }
    return undefined;
  }
  // Some tools install a prepareStackTrace that returns V8's structured call sites.
  if (Array.isArray(stack)) {
    for (const callSite of stack as NodeJS.CallSite[]) {
      const name = callSite.getFileName?.();
      const line = callSite.getLineNumber?.();
      if (!name || !line) continue;
      const file = toPath(name);
      if (!file.startsWith(DSL_DIR)) return display({ file, line, column: callSite.getColumnNumber?.() ?? undefined });
    }
  }
  return undefined;
}

/** `    at fn (/path/file.ts:12:5)` or `    at /path/file.ts:12:5`. */
const FRAME = /^\s*at (?:.*? \()?(.+?):(\d+):(\d+)\)?$/;

function parseFrame(text: string): SourceLocation & { column: number } | undefined {
  const m = FRAME.exec(text);
  if (!m) return undefined;
  return { file: toPath(m[1]!), line: Number(m[2]), column: Number(m[3]) };
}

function toPath(name: string): string {
  return name.startsWith('file://') ? fileURLToPath(name) : name;
}

/** Parsed source maps of compiled files, so a frame in dist/x.js is reported at src/x.ts. */
const sourceMaps = new Map<string, SourceMap | undefined>();

function original(at: { file: string; line: number; column?: number | undefined }): { file: string; line: number; column?: number | undefined } {
  if (!at.file.endsWith('.js')) return at;
  let map = sourceMaps.get(at.file);
  if (!sourceMaps.has(at.file)) {
    const path = `${at.file}.map`;
    try {
      map = existsSync(path) ? new SourceMap(JSON.parse(readFileSync(path, 'utf8'))) : undefined;
    } catch {
      map = undefined; // an unreadable map only costs the mapping, never the build
    }
    sourceMaps.set(at.file, map);
  }
  const entry = map?.findEntry(at.line - 1, (at.column ?? 1) - 1);
  if (!entry || !('originalSource' in entry) || !entry.originalSource) return at;
  const source = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : resolve(dirname(at.file), entry.originalSource);
  return { file: source, line: entry.originalLine + 1, column: entry.originalColumn + 1 };
}

/** Paths under the working directory are shown relative to it, as compilers do. */
function display(compiled: { file: string; line: number; column?: number | undefined }): SourceLocation {
  const at = original(compiled);
  const rel = isAbsolute(at.file) ? relative(process.cwd(), at.file) : at.file;
  const file = rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : at.file;
  return at.column !== undefined ? { file, line: at.line, column: at.column } : { file, line: at.line };
}
