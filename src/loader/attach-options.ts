/**
 * Attach options as data (`--iface`, `--mode`, `--replace`): the kinds that
 * program build options (programs/options.ts) do not have, and their
 * validation, which names the flag.
 */
import { OptionError, parseOptionValue, type OptionSpec } from '../programs/options.js';
import { interfaceIndex } from './link.js';

/** An attach option chosen from a fixed list, e.g. `--mode generic|native|offload`. */
export interface ChoiceOptionSpec {
  readonly name: string;
  readonly flag: `--${string}`;
  readonly kind: 'choice';
  readonly choices: readonly string[];
  readonly default: string;
  readonly help: string;
}

/** A network interface by name, e.g. `--iface lo`. */
export interface InterfaceOptionSpec {
  readonly name: string;
  readonly flag: `--${string}`;
  readonly kind: 'interface';
  readonly default: string;
  readonly help: string;
}

/** An attach option that is on when its flag is given, e.g. `--replace`. */
export interface SwitchOptionSpec {
  readonly name: string;
  readonly flag: `--${string}`;
  readonly kind: 'switch';
  readonly default: false;
  readonly help: string;
}

/** Options of attaching (where and how), beside the program's own build options. */
export type AttachOptionSpec = OptionSpec | ChoiceOptionSpec | InterfaceOptionSpec | SwitchOptionSpec;

/** What the kernel accepts as an interface name (dev_valid_name): 1-15 bytes, no '/', ':' or whitespace, not '.' or '..'. */
function isInterfaceName(name: string): boolean {
  return Buffer.byteLength(name) >= 1 && Buffer.byteLength(name) <= 15 && !/[/:\s]/.test(name) && name !== '.' && name !== '..';
}

/**
 * The index of the interface an option names, in this network namespace;
 * a missing interface is the option's fault, so it is an OptionError.
 */
export function requireInterface(flag: string, name: string): number {
  try {
    return interfaceIndex(name);
  } catch {
    throw new OptionError(flag, `no network interface named ${name} in this network namespace`);
  }
}

/** Validate one attach option value (a command-line string or a value from code); OptionError names the flag. */
export function parseAttachOption(spec: AttachOptionSpec, raw: unknown): string | number | boolean {
  if (spec.kind === 'switch') {
    if (typeof raw !== 'boolean') throw new OptionError(spec.flag, `${String(raw)} is not true or false`);
    return raw;
  }
  if (spec.kind === 'choice') {
    if (typeof raw !== 'string' || !spec.choices.includes(raw)) throw new OptionError(spec.flag, `'${String(raw)}' is not one of ${spec.choices.join(', ')}`);
    return raw;
  }
  if (spec.kind === 'interface') {
    if (typeof raw !== 'string' || !isInterfaceName(raw)) {
      throw new OptionError(spec.flag, `'${String(raw)}' is not an interface name (1-15 bytes without '/', ':' or spaces)`);
    }
    requireInterface(spec.flag, raw);
    return raw;
  }
  return parseOptionValue(spec, raw);
}

/** The attach-option values of `input` (validated) or their defaults; keys of `input` no spec names are left alone. */
export function resolveAttachOptions(specs: readonly AttachOptionSpec[], input: Readonly<Record<string, unknown>>): Record<string, string | number | boolean> {
  const values: Record<string, string | number | boolean> = {};
  for (const spec of specs) {
    const raw = input[spec.name];
    values[spec.name] = raw === undefined ? spec.default : parseAttachOption(spec, raw);
  }
  return values;
}
