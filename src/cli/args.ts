import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './usage.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * node:util parseArgs in strict mode, with its errors rewritten as one-line
 * UsageErrors that name the flag and the command.
 */
export function parseCommandLine<T extends Options>(command: string, argv: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (error) {
    // One line: node's explanation, with its hint for values starting with a dash, without the one about positionals.
    const message = (error as Error).message
      .split('\n')
      .filter((line) => !line.startsWith('To specify a positional argument'))
      .join(' ')
      .replace(/\. To specify a positional argument.*$/, '');
    throw new UsageError(`${command}: ${message} (see bpfgen ${command} --help)`);
  }
}

/** Parse a decimal integer flag value within [min, max], naming the flag when it is not one. */
export function integerFlag(flag: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag}: '${value}' is not a non-negative integer`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`${flag}: ${value} is out of range (${min}-${max})`);
  return n;
}

/** Check a flag's value against a fixed set of choices. */
export function choiceFlag<C extends string>(flag: string, value: string | undefined, choices: readonly C[], fallback: C): C {
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`${flag}: '${value}' is not one of ${choices.join(', ')}`);
  return value as C;
}
