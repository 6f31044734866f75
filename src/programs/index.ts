import type { AssembledProgram, ProgramType } from '../asm/program.js';
import type { BuildSettings, OptionSpec } from './options.js';
import { buildTcDnsRedirectEth, buildTcDnsRedirectLo, TC_DNS_REDIRECT_ETH_OPTIONS, TC_DNS_REDIRECT_LO_OPTIONS } from './tc-dns-redirect.js';
import { buildSocketDnsFilter, SOCKET_DNS_FILTER_OPTIONS } from './socket-dns-filter.js';
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
  'tc-dns-redirect-lo': {
    name: 'tc-dns-redirect-lo',
    description:
      "Docker-style DNS redirect, lo ingress half: a UDP query from 127.0.0.1 to the resolver is rewritten to come from container-ip and go to upstream, and sent out of eth (bpf_redirect_neigh)",
    type: 'sched_cls',
    options: TC_DNS_REDIRECT_LO_OPTIONS,
    build: (options, settings) => buildTcDnsRedirectLo(options, settings),
  },
  'tc-dns-redirect-eth': {
    name: 'tc-dns-redirect-eth',
    description:
      "Docker-style DNS redirect, eth ingress half: a UDP answer from upstream to container-ip is rewritten to come from the resolver and go to 127.0.0.1, and redirected into lo",
    type: 'sched_cls',
    options: TC_DNS_REDIRECT_ETH_OPTIONS,
    build: (options, settings) => buildTcDnsRedirectEth(options, settings),
  },
  'socket-dns-filter': {
    name: 'socket-dns-filter',
    description: 'packet socket filter for DNS capture: keeps UDP to or from port whose DNS header has QDCOUNT 1 (IPv4 with options, IPv6), drops non-first fragments',
    type: 'socket_filter',
    options: SOCKET_DNS_FILTER_OPTIONS,
    build: (options, settings) => buildSocketDnsFilter(options, settings),
  },
};
