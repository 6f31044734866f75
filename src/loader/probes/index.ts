/**
 * Kernel feature probes: program types, map types, helpers per program
 * type, instruction set versions and kinds of bpf_link, each asked of the
 * running kernel the way libbpf and cilium/ebpf do (load a minimal program
 * or create a minimal map, and read the errno and the verifier log), once
 * per process.
 */
export { probeFeature, requireFeature, MissingFeatureError } from './features.js';
export type { FeatureName } from './features.js';
export { probeProgramType } from './program-types.js';
export { probeMapType } from './map-types.js';
export { probeHelper, SIDE_EFFECT_HELPERS } from './helpers.js';
export { probeIsa, ISA_FEATURES } from './isa.js';
export type { IsaFeature, IsaV4Part } from './isa.js';
export { probeLink, LINK_FEATURES } from './links.js';
export type { LinkFeature } from './links.js';
export { probeAll, DEFAULT_HELPER_PROGRAM_TYPES, HELPER_PROBE_PROGRAM_TYPES } from './report.js';
export type { FeatureReport, HelperReport, ProbeAllOptions } from './report.js';
export type { FeatureStatus } from './status.js';
