/**
 * Every probe at once, grouped as `bpfgen probe` prints them: program
 * types, map types, instruction set, links, and helpers per program type.
 */
import { release } from 'node:os';
import { HELPERS, type HelperName } from '../../asm/helpers.js';
import { KernelMapType, KernelProgramType, ProgramTypeValue, type KernelMapTypeName, type KernelProgramTypeName } from '../uapi.js';
import { probeHelper, SIDE_EFFECT_HELPERS, unknownToKernel } from './helpers.js';
import { ISA_FEATURES, probeIsa } from './isa.js';
import { LINK_FEATURES, probeLink } from './links.js';
import { probeMapType } from './map-types.js';
import { helpersProbeable, probeProgramType } from './program-types.js';
import type { FeatureStatus } from './status.js';

export interface HelperReport {
  readonly programType: KernelProgramTypeName;
  /** One answer per helper probed, in helper id order. */
  readonly helpers: readonly FeatureStatus[];
  /** Helpers the kernel does not know at all (too old for them), a subset of those not available. */
  readonly unknownToKernel: readonly HelperName[];
  /** Helpers left out because verifying a call to them leaves a trace in the kernel (see `full`). */
  readonly notProbed: readonly { readonly helper: HelperName; readonly why: string }[];
}

export interface FeatureReport {
  /** The running kernel, as uname -r gives it. */
  readonly kernelRelease: string;
  readonly programTypes: readonly FeatureStatus[];
  readonly mapTypes: readonly FeatureStatus[];
  readonly isa: readonly FeatureStatus[];
  readonly links: readonly FeatureStatus[];
  readonly helpers: readonly HelperReport[];
}

export interface ProbeAllOptions {
  /** Program types whose helpers to probe; by default those bpfgen builds. */
  readonly helperProgramTypes?: readonly KernelProgramTypeName[];
  /** Also probe the helpers with side effects (trace_printk, trace_vprintk, probe_write_user), as bpftool's `full` does. */
  readonly full?: boolean;
}

/** Program types in which helper calls can be probed: all but those that need a BTF attach target. */
export const HELPER_PROBE_PROGRAM_TYPES = (Object.keys(KernelProgramType) as KernelProgramTypeName[]).filter(helpersProbeable);

/** The program types bpfgen builds, whose helpers probeAll checks by default. */
export const DEFAULT_HELPER_PROGRAM_TYPES = Object.keys(ProgramTypeValue) as KernelProgramTypeName[];

function helperReport(programType: KernelProgramTypeName, full: boolean): HelperReport {
  const helpers: FeatureStatus[] = [];
  const notProbed: { helper: HelperName; why: string }[] = [];
  for (const { name } of HELPERS) {
    const helper = name as HelperName;
    const why = SIDE_EFFECT_HELPERS[helper];
    if (why && !full) notProbed.push({ helper, why });
    else helpers.push(probeHelper(programType, helper));
  }
  const unknown = helpers.filter(unknownToKernel).map((status) => status.name.split(':')[2] as HelperName);
  return { programType, helpers, unknownToKernel: unknown, notProbed };
}

/** Probe everything (each answer once per process) and return the table. */
export function probeAll(options: ProbeAllOptions = {}): FeatureReport {
  const helperTypes = options.helperProgramTypes ?? DEFAULT_HELPER_PROGRAM_TYPES;
  return {
    kernelRelease: release(),
    programTypes: (Object.keys(KernelProgramType) as KernelProgramTypeName[]).map(probeProgramType),
    mapTypes: (Object.keys(KernelMapType) as KernelMapTypeName[]).map(probeMapType),
    isa: ISA_FEATURES.map(probeIsa),
    links: LINK_FEATURES.map(probeLink),
    helpers: helperTypes.map((type) => helperReport(type, options.full === true)),
  };
}
