import { parseIpv4 } from '../asm/byteorder.js';

/**
 * Program options: each program describes its options as data, the CLI turns
 * `--flag value` pairs into values generically, and `resolveOptions`
 * validates values from either source and fills in defaults.
 */

export type OptionKind = 'ipv4' | 'endpoint' | 'port' | 'int' | 'ifindex';

/** The value type of each kind: addresses (`A.B.C.D`) and endpoints (`A.B.C.D:PORT`) stay text, the rest are numbers. */
export type OptionValueOf<K extends OptionKind> = K extends 'ipv4' | 'endpoint' ? string : number;

export interface OptionSpec<K extends OptionKind = OptionKind> {
  /** Key in the options object, e.g. `dnsIp`. */
  readonly name: string;
  /** Command-line flag, e.g. `--dns-ip`. */
  readonly flag: `--${string}`;
  readonly kind: K;
  readonly default: OptionValueOf<K>;
  readonly help: string;
}

/** The options object a list of specs describes, e.g. `{ dnsIp: string; dnsPort: number }`. */
export type OptionValues<S extends readonly OptionSpec[]> = {
  -readonly [P in S[number] as P['name']]: OptionValueOf<P['kind']>;
};

/** A bad option value or an unknown option, naming the option. */
export class OptionError extends Error {
  constructor(
    /** The option's flag (`--dns-ip`), or the unknown key as given. */
    readonly option: string,
    readonly detail: string,
  ) {
    super(`${option}: ${detail}`);
    this.name = 'OptionError';
  }
}

/** An IPv4 address and UDP/TCP port, as `A.B.C.D:PORT` (an `endpoint` option's value). */
export interface Ipv4Endpoint {
  readonly address: string;
  readonly port: number;
}

/** `'127.0.0.11:5353'` → { address: '127.0.0.11', port: 5353 }, or undefined unless it is exactly an IPv4 address, ':' and a port 1-65535. */
export function parseEndpoint(text: string): Ipv4Endpoint | undefined {
  const match = /^([^:]+):(\d{1,5})$/.exec(text);
  if (!match || parseIpv4(match[1]!) === undefined) return undefined;
  const port = Number(match[2]);
  return port >= 1 && port <= 65535 ? { address: match[1]!, port } : undefined;
}

const KIND_RANGE = {
  port: { min: 1, max: 65535, what: 'a port number 1-65535' },
  ifindex: { min: 1, max: 0x7fffffff, what: 'an interface index (a positive integer)' },
  int: { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER, what: 'an integer' },
} as const;

/** Validate one value: a string from the command line, or a value passed by code. */
export function parseOptionValue<K extends OptionKind>(spec: OptionSpec<K>, raw: unknown): OptionValueOf<K> {
  const shown = typeof raw === 'string' ? `'${raw}'` : String(raw);
  if (spec.kind === 'ipv4') {
    if (typeof raw !== 'string' || parseIpv4(raw) === undefined) {
      throw new OptionError(spec.flag, `${shown} is not an IPv4 address (four decimal numbers 0-255 separated by dots, e.g. 100.127.136.241)`);
    }
    return raw as OptionValueOf<K>;
  }
  if (spec.kind === 'endpoint') {
    if (typeof raw !== 'string' || parseEndpoint(raw) === undefined) {
      throw new OptionError(spec.flag, `${shown} is not an IPv4 address and port (A.B.C.D:PORT with a port 1-65535, e.g. 127.0.0.11:5353)`);
    }
    return raw as OptionValueOf<K>;
  }
  const range = KIND_RANGE[spec.kind as Exclude<OptionKind, 'ipv4' | 'endpoint'>];
  const value = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw new OptionError(spec.flag, `${shown} is not ${range.what}`);
  }
  return value as OptionValueOf<K>;
}

/**
 * The complete options object: every spec's value from `input` (validated)
 * or its default. Keys of `input` that name no option are errors, so a typo
 * is not silently ignored; undefined values mean "use the default".
 */
export function resolveOptions<const S extends readonly OptionSpec[]>(specs: S, input: Readonly<Record<string, unknown>> = {}): OptionValues<S> {
  const known = new Set(specs.map((s) => s.name));
  for (const key of Object.keys(input)) {
    if (!known.has(key)) throw new OptionError(key, `unknown option (expected ${specs.map((s) => `${s.name} (${s.flag})`).join(', ')})`);
  }
  const values: Record<string, string | number> = {};
  for (const spec of specs) {
    const raw = input[spec.name];
    values[spec.name] = raw === undefined ? spec.default : parseOptionValue(spec, raw);
  }
  return values as OptionValues<S>;
}

export interface BuildSettings {
  /**
   * Capture each instruction's source line while building (true), never
   * (false), or by default only when the source map is first read, by
   * building again (see buildWithSourceMapOnDemand): loading a program
   * never pays for locations, `--source` listings still get them.
   */
  readonly captureSites?: boolean;
}
