/**
 * Program options for the configuration sweep, generated from the option
 * specs (so a new program or option is swept without changes here): valid
 * values that favour the edges of each kind's range, coincidences between
 * options of one kind (a listen port equal to the DNS port, an upstream
 * equal to the resolver), and invalid values of every kind.
 */
import type { OptionKind, OptionSpec } from '../../../src/programs/index.js';
import type { Prng } from './prng.js';

/** The values at the ends of each kind's range (and the loopback address), which every sweep must include. */
export const EDGE_VALUES: Readonly<Record<Exclude<OptionKind, 'int'>, readonly (string | number)[]>> = {
  ipv4: ['0.0.0.0', '255.255.255.255', '127.0.0.1'],
  port: [1, 65535],
  ifindex: [1, 0x7fffffff],
  endpoint: ['0.0.0.0:1', '255.255.255.255:65535', '127.0.0.1:65535'],
};

function randomValue(rng: Prng, kind: OptionKind): string | number {
  const edgesFirst = kind !== 'int' && rng.chance(0.4);
  switch (kind) {
    case 'ipv4':
      return edgesFirst ? rng.pick(EDGE_VALUES.ipv4) : rng.ipv4();
    case 'port':
      return edgesFirst ? rng.pick(EDGE_VALUES.port) : rng.int(1, 0xffff);
    case 'ifindex':
      return edgesFirst ? rng.pick(EDGE_VALUES.ifindex) : rng.int(1, 0x7fffffff);
    case 'endpoint':
      return edgesFirst ? rng.pick(EDGE_VALUES.endpoint) : `${randomValue(rng, 'ipv4')}:${randomValue(rng, 'port')}`;
    case 'int':
      return rng.int(-0x7fffffff, 0x7fffffff);
  }
}

/** The address part of an ipv4 or endpoint value, by which options of the two kinds can coincide. */
function addressOf(value: string | number): string {
  return String(value).split(':')[0]!;
}

/**
 * A random valid configuration. Now and then one option copies another of
 * the same kind (or an address from an endpoint), since programs compare
 * and rewrite between them: equal values are where arithmetic degenerates.
 */
export function randomOptions(rng: Prng, specs: readonly OptionSpec[]): Record<string, string | number> {
  const options: Record<string, string | number> = {};
  for (const spec of specs) options[spec.name] = randomValue(rng, spec.kind);
  if (rng.chance(0.3)) {
    const target = rng.pick(specs);
    const sources = specs.filter((spec) => spec !== target && (spec.kind === target.kind || (target.kind === 'ipv4' && spec.kind === 'endpoint')));
    if (sources.length > 0) {
      const source = rng.pick(sources);
      options[target.name] = target.kind === source.kind ? options[source.name]! : addressOf(options[source.name]!);
    }
  }
  return options;
}

/** The configurations every sweep starts with: every option at its lowest edge, then every option at its highest. */
export function edgeOptions(specs: readonly OptionSpec[]): Record<string, string | number>[] {
  const at = (index: 0 | 1) => Object.fromEntries(specs.map((spec) => [spec.name, spec.kind === 'int' ? spec.default : EDGE_VALUES[spec.kind][index]!]));
  return [at(0), at(1)];
}

/** Values no option of the kind accepts, from the command line (strings) or from code (other types). */
export const INVALID_VALUES: Readonly<Record<OptionKind, readonly unknown[]>> = {
  ipv4: ['256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.-4', '1.2.3.4 ', 'localhost', '', '::1', 0x01020304, null],
  port: [0, 65536, -1, 1.5, '53a', '0x35', '', '1e3', Number.NaN, Number.POSITIVE_INFINITY, true, '70000'],
  ifindex: [0, -1, 2 ** 31, 1.5, '2x', '', '-3', 2 ** 53],
  endpoint: ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', ':53', '1.2.3.4:53:1', 'dns.example:53', '1.2.3.4:', '[::1]:53', '300.0.0.1:53', 53],
  int: [1.5, '1.5', 'x', Number.NaN, 2 ** 60],
};
