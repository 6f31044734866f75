/**
 * Each bpfgen program beside its C reference in bench/reference/: how to
 * build both for the same options, the packets the benchmark times, and the
 * packets and configurations test/bench-references.test.ts runs through
 * both to show that they do the same work.
 */
import type { AssembledProgram, ProgramType } from '../src/asm/program.js';
import type { Program } from '../src/loader/index.js';
import type { Defines } from './clang.js';
import { socketDnsFilter } from './reference-socket.js';
import { tcDnsRedirectEth, tcDnsRedirectLo } from './reference-tc.js';
import { xdpDnsForward, xdpDnsForwardMap } from './reference-xdp.js';

export type Options = Readonly<Record<string, string | number>>;

/** A packet the benchmark times, and whether the program acts on it. */
export interface RunCase {
  readonly name: string;
  readonly kind: 'matching' | 'non-matching' | 'rewrite every run';
  readonly packet: Uint8Array;
  /**
   * Build and configure both programs with these options instead of the
   * defaults: for 'rewrite every run', options under which the rewrite
   * leaves the packet as it was, so that every repetition of a test run
   * (which reuses one buffer) takes the rewrite path again.
   */
  readonly options?: Options;
  /**
   * Measure one repetition per test run, each on a fresh copy of the
   * packet, over many test runs: the equivalent of an identity rewrite for
   * programs where settings that make the rewrite an identity would also
   * change the work it does.
   */
  readonly fresh?: boolean;
}

/** Packets under one configuration, for the equivalence test. */
export interface EquivalenceSet {
  readonly options: Options;
  /** Under these options every rewrite leaves the packet as it was (the rewrite-every-run configuration). */
  readonly identity?: boolean;
  readonly packets: readonly { readonly name: string; readonly packet: Uint8Array }[];
}

export interface Reference {
  /** Row name, e.g. `xdp-dns-forward`. */
  readonly name: string;
  readonly type: ProgramType;
  /** The verdict of a packet the program leaves alone (XDP_PASS, TC_ACT_UNSPEC as unsigned, or 0 for a filter's drop). */
  readonly passVerdict: number;
  /** The C file in bench/reference/, and the name of its program (function). */
  readonly source: string;
  readonly function: string;
  /** The C declares maps, so it is compiled with -g for their BTF. */
  readonly btf?: boolean;
  /** The options everything is measured with. */
  readonly options: Options;
  /** bpfgen: build for `options`, as `bpfgen attach` would (no call sites recorded). */
  build(options: Options): AssembledProgram;
  /** clang: the -D defines that put `options` into the C (none when the program reads them from a map). */
  defines(options: Options): Defines;
  /** After loading (either program): write `options` into its maps; absent when the program carries them as constants. */
  readonly configure?: (program: Program, options: Options) => void;
  readonly cases: readonly RunCase[];
  equivalence(): readonly EquivalenceSet[];
}

export const REFERENCES: readonly Reference[] = [xdpDnsForward, xdpDnsForwardMap, tcDnsRedirectLo, tcDnsRedirectEth, socketDnsFilter];
