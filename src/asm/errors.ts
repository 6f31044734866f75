import type { SourceLocation } from './program.js';

export function formatLocation(at: SourceLocation | undefined): string {
  if (!at) return '<unknown>';
  return at.column !== undefined ? `${at.file}:${at.line}:${at.column}` : `${at.file}:${at.line}`;
}

/** Bad assembler text: names the file, line and, when known, column. */
export class AsmSyntaxError extends Error {
  constructor(
    readonly at: SourceLocation,
    readonly detail: string,
  ) {
    super(`${formatLocation(at)}: ${detail}`);
    this.name = 'AsmSyntaxError';
  }
}

/** Misuse of the DSL, reported at build time with the call site that caused it. */
export class DslError extends Error {
  constructor(
    readonly at: SourceLocation | undefined,
    readonly detail: string,
  ) {
    super(`${formatLocation(at)}: ${detail}`);
    this.name = 'DslError';
  }
}
