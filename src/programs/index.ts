import type { AssembledProgram, ProgramType } from '../asm/program.js';
import type { BuildSettings, OptionSpec } from './options.js';
import { buildXdpDnsForward, XDP_DNS_FORWARD_OPTIONS } from './xdp-dns-forward.js';

export {
  OptionError,
  parseOptionValue,
  resolveOptions,
  type BuildSettings,
  type OptionKind,
  type OptionSpec,
  type OptionValues,
} from './options.js';

/** A program the CLI can build: `bpfgen <command> <name> [--flag value ...]`. */
export interface ProgramEntry {
  /** CLI name. */
  readonly name: string;
  readonly description: string;
  readonly type: ProgramType;
  readonly options: readonly OptionSpec[];
  /**
   * Assemble with the given option values (command-line strings or typed
   * values; missing ones take their defaults). Throws OptionError for a bad
   * or unknown option.
   */
  build(options?: Readonly<Record<string, unknown>>, settings?: BuildSettings): AssembledProgram;
}

/** The program registered under a CLI name; only the registry's own keys count, not inherited ones like 'constructor'. */
export function programNamed(name: string): ProgramEntry | undefined {
  return Object.hasOwn(PROGRAMS, name) ? PROGRAMS[name] : undefined;
}

export const PROGRAMS: Readonly<Record<string, ProgramEntry>> = {
  'xdp-dns-forward': {
    name: 'xdp-dns-forward',
    description:
      'NetBird DNS port sharing on lo: rewrites UDP queries to dns-ip:dns-port onto listen-port and replies back, with incremental checksum update',
    type: 'xdp',
    options: XDP_DNS_FORWARD_OPTIONS,
    build: (options, settings) => buildXdpDnsForward(options, settings),
  },
};
