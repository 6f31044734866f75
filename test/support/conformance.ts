/**
 * Reader for the bpf_conformance suite's `.data` files
 * (../shared/conformance/bpf_conformance, see its README): sections start
 * with a `-- name` line and `#` starts a comment.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AsmSyntaxError } from '../../src/asm/errors.js';
import type { SourceLocation } from '../../src/asm/program.js';

/** The suite's folder as seen from the repository root. */
export const CONFORMANCE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../..', '../shared/conformance/bpf_conformance');

export type ConformanceFolder = 'tests' | 'negative';

export interface ConformanceCase {
  readonly path: string;
  /** File name without `.data`. */
  readonly name: string;
  /**
   * The `-- asm` section with every other line of the file blanked, so that
   * line N of this text is line N of the file and assembler errors point
   * into the .data file. Undefined when the file has no asm section.
   */
  readonly asm?: string;
  /** The `-- raw` program bytes, little-endian. */
  readonly raw?: Uint8Array;
  /** The `-- mem` bytes (empty when absent). */
  readonly mem: Uint8Array;
  /** The expected r0 as an unsigned 64-bit value. */
  readonly result?: bigint;
  /** The expected failure; '' for an `-- error` section with no text. */
  readonly error?: string;
}

/**
 * Section names the suite uses. `c` is reference C source and
 * `no register offset` a note the suite's own parser skips; both are ignored.
 */
const SECTIONS = ['asm', 'raw', 'mem', 'result', 'error', 'c', 'no register offset'] as const;
type SectionName = (typeof SECTIONS)[number];

/** A comment-stripped, non-blank line of a section and its 1-based line number. */
interface SourceLine {
  readonly line: number;
  readonly text: string;
}

export function conformanceSuiteAvailable(): boolean {
  return existsSync(join(CONFORMANCE_DIR, 'tests')) && existsSync(join(CONFORMANCE_DIR, 'negative'));
}

/** Paths of the `.data` files of one folder, sorted. */
export function listConformanceFiles(folder: ConformanceFolder): string[] {
  const dir = join(CONFORMANCE_DIR, folder);
  return readdirSync(dir)
    .filter((name) => name.endsWith('.data'))
    .sort()
    .map((name) => join(dir, name));
}

/** Parse one `.data` file; a malformed file throws AsmSyntaxError naming file:line. */
export function readConformanceFile(path: string): ConformanceCase {
  return parseConformanceText(readFileSync(path, 'utf8'), path);
}

export function parseConformanceText(text: string, path: string): ConformanceCase {
  const lines = text.split(/\r?\n/);
  const bodies = new Map<SectionName, SourceLine[]>();
  const headers = new Map<SectionName, number>();
  let current: SectionName | undefined;
  lines.forEach((rawLine, index) => {
    const line = index + 1;
    const code = rawLine.replace(/#.*/, '').trimEnd();
    if (code.startsWith('--')) {
      const name = code.slice(2).trim();
      if (!(SECTIONS as readonly string[]).includes(name)) {
        throw new AsmSyntaxError({ file: path, line }, `unknown directive '${code}' (sections are ${SECTIONS.map((s) => `-- ${s}`).join(', ')})`);
      }
      current = name as SectionName;
      if (bodies.has(current)) throw new AsmSyntaxError({ file: path, line }, `section '-- ${current}' appears twice`);
      bodies.set(current, []);
      headers.set(current, line);
      return;
    }
    if (code.trim() === '') return;
    if (!current) throw new AsmSyntaxError({ file: path, line }, `'${code.trim()}' is outside any section`);
    bodies.get(current)!.push({ line, text: code });
  });

  const asmLines = bodies.get('asm');
  const asm = asmLines && blankedText(lines.length, asmLines);
  const raw = bodies.has('raw') ? parseRaw(bodies.get('raw')!, path) : undefined;
  const mem = parseBytes(bodies.get('mem') ?? [], path);
  const resultLines = bodies.get('result');
  const result = resultLines && parseResult(resultLines, { file: path, line: headers.get('result')! });
  const errorLines = bodies.get('error');
  const error = errorLines?.map((l) => l.text.trim()).join('\n');
  return {
    path,
    name: basename(path, '.data'),
    ...(asm !== undefined && { asm }),
    ...(raw && { raw }),
    mem,
    ...(result !== undefined && { result }),
    ...(error !== undefined && { error }),
  };
}

function blankedText(lineCount: number, kept: SourceLine[]): string {
  const out = new Array<string>(lineCount).fill('');
  for (const { line, text } of kept) out[line - 1] = text;
  return out.join('\n');
}

/**
 * Program bytes. tests/ writes one 64-bit little-endian word per line
 * (`0x5566778800000018`), negative/ writes 8 hex bytes per line
 * (`dc 10 00 00 10 00 00 00`); a line may use either.
 */
function parseRaw(body: SourceLine[], path: string): Uint8Array {
  const bytes: number[] = [];
  for (const { line, text } of body) {
    for (const token of text.trim().split(/\s+/)) {
      if (/^0x[0-9a-f]{1,16}$/i.test(token)) {
        let word = BigInt(token);
        for (let i = 0; i < 8; i++, word >>= 8n) bytes.push(Number(word & 0xffn));
      } else if (/^[0-9a-f]{2}$/i.test(token)) {
        bytes.push(parseInt(token, 16));
      } else {
        throw new AsmSyntaxError({ file: path, line }, `raw token '${token}' is neither a 64-bit word 0x… nor a hex byte`);
      }
    }
  }
  return Uint8Array.from(bytes);
}

function parseBytes(body: SourceLine[], path: string): Uint8Array {
  const bytes: number[] = [];
  for (const { line, text } of body) {
    for (const token of text.trim().split(/\s+/)) {
      if (!/^[0-9a-f]{1,2}$/i.test(token)) throw new AsmSyntaxError({ file: path, line }, `mem token '${token}' is not a hex byte`);
      bytes.push(parseInt(token, 16));
    }
  }
  return Uint8Array.from(bytes);
}

function parseResult(body: SourceLine[], header: SourceLocation): bigint {
  const [first, extra] = body;
  if (!first || extra) throw new AsmSyntaxError({ ...header, line: extra?.line ?? header.line }, 'a result section holds exactly one value');
  const text = first.text.trim();
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) throw new AsmSyntaxError({ ...header, line: first.line }, `result '${text}' is not a number`);
  return BigInt.asUintN(64, BigInt(text));
}
