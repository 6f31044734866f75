import type { ParseArgsConfig } from 'node:util';
import { PROGRAMS, programNamed, type OptionKind, type ProgramEntry } from '../programs/index.js';
import { UsageError } from './usage.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export function findProgram(command: string, name: string | undefined): ProgramEntry {
  const names = Object.keys(PROGRAMS).join(', ');
  if (name === undefined) throw new UsageError(`${command}: expected a program name (${names})`);
  const entry = programNamed(name);
  if (!entry) throw new UsageError(`${command}: unknown program '${name}' (programs: ${names}; see bpfgen list)`);
  return entry;
}

/** parseArgs options for a program's own flags (`--dns-ip` etc.), as strings to validate later. */
export function programFlags(entry: ProgramEntry): Options {
  return Object.fromEntries(entry.options.map((o) => [o.flag.slice(2), { type: 'string' as const }]));
}

/** Pick a program's option values out of parsed flags, keyed by option name. */
export function programOptionValues(entry: ProgramEntry, values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of entry.options) {
    const v = values[o.flag.slice(2)];
    if (v !== undefined) out[o.name] = v;
  }
  return out;
}

/** How help shows the value of each kind of option. */
const OPTION_METAVAR: Readonly<Record<OptionKind, string>> = { ipv4: 'A.B.C.D', endpoint: 'A.B.C.D:PORT', port: 'N', int: 'N', ifindex: 'N' };

/** The help lines for a program's options. */
export function programOptionHelp(entry: ProgramEntry): string {
  const rows = entry.options.map((o) => [`${o.flag} ${OPTION_METAVAR[o.kind]}`, `${o.help} (default ${o.default})`] as const);
  const width = Math.max(0, ...rows.map(([f]) => f.length));
  return rows.map(([flag, help]) => `    ${flag.padEnd(width)}  ${help}`).join('\n');
}
