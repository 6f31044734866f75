/**
 * bpfgen: build eBPF programs on the host that runs them, in TypeScript.
 * `bpfgen/asm` parts are pure; the loader needs Linux and the native shim,
 * which it loads only when first used.
 */
export * from './asm/index.js';
export { PROGRAMS, OptionError, resolveOptions, type ProgramEntry, type OptionSpec, type OptionValues } from './programs/index.js';
export { buildXdpDnsForward, XDP_DNS_FORWARD_DEFAULTS, XDP_DNS_FORWARD_OPTIONS, type XdpDnsForwardOptions } from './programs/xdp-dns-forward.js';
export { buildTcDnsRedirectEth, buildTcDnsRedirectLo, TC_DNS_REDIRECT_SETTINGS } from './programs/tc-dns-redirect.js';
export * from './loader/index.js';
