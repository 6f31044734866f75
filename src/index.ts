/**
 * bpfgen: build eBPF programs on the host that runs them, in TypeScript.
 * `bpfgen/asm` parts are pure; the loader needs Linux and the native shim,
 * which it loads only when first used.
 */
export * from './asm/index.js';
export { PROGRAMS, OptionError, resolveOptions, type ProgramEntry, type OptionSpec, type OptionValues } from './programs/index.js';
export { buildXdpDnsForward, buildXdpDnsForwardMapConfigured, XDP_DNS_FORWARD_DEFAULTS, XDP_DNS_FORWARD_OPTIONS, type XdpDnsForwardOptions } from './programs/xdp-dns-forward.js';
export { buildTcDnsRedirectEth, buildTcDnsRedirectLo, TC_DNS_REDIRECT_SETTINGS } from './programs/tc-dns-redirect.js';
export * from './loader/index.js';
export { buildSocketDnsFilter, SOCKET_DNS_FILTER_OPTIONS, type SocketDnsFilterOptions } from './programs/socket-dns-filter.js';
export { captureDns, DnsCapture, type DnsCaptureOptions, type DnsCaptureStats } from './loader/dns-capture.js';
export { decodeDnsFrame, type DnsEndpoint, type DnsMessage, type DnsMessageStatus, type DnsQuestion, type DnsRecord } from './loader/dns-frame.js';
export { DnsTransactionMatcher, type DnsMatcherOptions, type DnsSummary, type LatencySummary } from './loader/dns-matcher.js';
