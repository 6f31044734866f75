/**
 * Features by name: `probeFeature` answers any of them, `requireFeature`
 * turns a "no" into a FeatureError that names the release which brought
 * the feature.
 */
import { release } from 'node:os';
import { HELPERS, type HelperName } from '../../asm/helpers.js';
import { FeatureError } from '../errors.js';
import { kernelAtLeast, KernelMapType, KernelProgramType, type KernelMapTypeName, type KernelProgramTypeName } from '../uapi.js';
import { probeHelper } from './helpers.js';
import { ISA_FEATURES, probeIsa, type IsaFeature } from './isa.js';
import { LINK_FEATURES, probeLink, type LinkFeature } from './links.js';
import { probeMapType } from './map-types.js';
import { probeProgramType } from './program-types.js';
import type { FeatureStatus } from './status.js';

/**
 * `prog_type:xdp`, `map_type:ringbuf`, `isa:v4` (or one part, `isa:v4:gotol`),
 * `link:tcx`, `helper:xdp:redirect_map`.
 */
export type FeatureName =
  | `prog_type:${KernelProgramTypeName}`
  | `map_type:${KernelMapTypeName}`
  | `isa:${IsaFeature}`
  | `link:${LinkFeature}`
  | `helper:${KernelProgramTypeName}:${HelperName}`;

const FORMS = 'prog_type:TYPE, map_type:TYPE, isa:v2|v3|v4|v4:PART, link:bpf_link|xdp|tcx|netkit, helper:PROGRAM_TYPE:HELPER';

function unknownFeature(name: string, detail: string): RangeError {
  return new RangeError(`no feature named '${name}': ${detail} (features are named ${FORMS})`);
}

function oneOf<T extends string>(name: string, value: string | undefined, choices: readonly T[], what: string): T {
  if (value !== undefined && (choices as readonly string[]).includes(value)) return value as T;
  throw unknownFeature(name, `'${value ?? ''}' is not a ${what}`);
}

const PROGRAM_TYPES = Object.keys(KernelProgramType) as KernelProgramTypeName[];
const MAP_TYPES = Object.keys(KernelMapType) as KernelMapTypeName[];
const HELPER_NAMES = HELPERS.map((helper) => helper.name as HelperName);

/** Probe one feature (once per process; later calls answer from the cache). */
export function probeFeature(name: FeatureName): FeatureStatus {
  const [kind, first, ...rest] = name.split(':');
  const second = rest.join(':') || undefined;
  switch (kind) {
    case 'prog_type':
      return probeProgramType(oneOf(name, first, PROGRAM_TYPES, 'program type'));
    case 'map_type':
      return probeMapType(oneOf(name, first, MAP_TYPES, 'map type'));
    case 'isa':
      return probeIsa(oneOf(name, second ? `${first}:${second}` : first, ISA_FEATURES, 'ISA feature'));
    case 'link':
      return probeLink(oneOf(name, first, LINK_FEATURES, 'kind of link'));
    case 'helper':
      return probeHelper(oneOf(name, first, PROGRAM_TYPES, 'program type'), oneOf(name, second, HELPER_NAMES, 'helper'));
    default:
      throw unknownFeature(name, `'${kind}' is not a kind of feature`);
  }
}

/**
 * A feature the running kernel lacks. When the kernel is older than the
 * release that introduced it, the message says so as FeatureError does;
 * when it is not, the message gives the kernel's own reason (configured
 * out, forbidden here).
 */
export class MissingFeatureError extends FeatureError {
  constructor(readonly status: FeatureStatus, kernelRelease = release()) {
    super(status.description, status.since, kernelRelease);
    if (kernelAtLeast(kernelRelease, status.since)) {
      this.message = `${status.description}: not available on this kernel (${kernelRelease}) although it is Linux ${status.since} or newer: ${status.reason}`;
    }
  }
}

/** Throw a FeatureError (MissingFeatureError) unless the running kernel has the feature. */
export function requireFeature(name: FeatureName): void {
  const status = probeFeature(name);
  if (!status.supported) throw new MissingFeatureError(status);
}
