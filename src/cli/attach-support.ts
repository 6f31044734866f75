/**
 * What `bpfgen attach`, `detach` and `demo` share: which errors are the
 * system saying no (one line, exit 1) rather than a bug, the attach options
 * as flags, and waiting for the signal that ends a foreground command.
 */
import type { ParseArgsConfig } from 'node:util';
import type { AttachOptionSpec } from '../loader/attach-options.js';
import { BpfError, FeatureError, NativeUnavailableError, RelocationError } from '../loader/errors.js';
import { NetlinkError } from '../loader/netlink/socket.js';
import { RouteLocalnetError } from '../loader/dns-redirect.js';
import { XdpStateError } from '../loader/xdp-attachment.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Errors that explain why the kernel or the system refused (privileges, interface, what is attached, bpffs). */
export function isSystemRefusal(error: unknown): error is Error {
  return (
    error instanceof BpfError ||
    error instanceof FeatureError ||
    error instanceof NativeUnavailableError ||
    error instanceof RelocationError ||
    error instanceof NetlinkError ||
    error instanceof XdpStateError ||
    error instanceof RouteLocalnetError
  );
}

/** parseArgs options for attach options: switches are booleans, the rest strings validated later. */
export function attachFlags(specs: readonly AttachOptionSpec[]): Options {
  return Object.fromEntries(specs.map((spec) => [spec.flag.slice(2), { type: spec.kind === 'switch' ? ('boolean' as const) : ('string' as const) }]));
}

/** Attach option values out of parsed flags, keyed by option name. */
export function attachOptionValues(specs: readonly AttachOptionSpec[], values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of specs) {
    const value = values[spec.flag.slice(2)];
    if (value !== undefined) out[spec.name] = value;
  }
  return out;
}

function metavar(spec: AttachOptionSpec): string {
  switch (spec.kind) {
    case 'switch':
      return '';
    case 'choice':
      return ` ${spec.choices.join('|')}`;
    case 'interface':
      return ' IFACE';
    case 'ipv4':
      return ' A.B.C.D';
    case 'endpoint':
      return ' A.B.C.D:PORT';
    default:
      return ' N';
  }
}

/** The help lines for attach options. */
export function attachOptionHelp(specs: readonly AttachOptionSpec[]): string {
  const rows = specs.map((spec) => [`${spec.flag}${metavar(spec)}`, spec.kind === 'switch' ? spec.help : `${spec.help} (default ${spec.default})`] as const);
  const width = Math.max(0, ...rows.map(([flag]) => flag.length));
  return rows.map(([flag, help]) => `    ${flag.padEnd(width)}  ${help}`).join('\n');
}

/** Exit codes of a command ended by a signal, as a shell reports them (128 + the signal's number). */
export const SIGNAL_EXIT_CODES = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
export type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

/**
 * Catch SIGINT, SIGTERM and SIGHUP from now on, so that a signal arriving
 * while something is being attached ends the command through its cleanup
 * rather than killing it half way. `received` resolves with the first one;
 * until then the process stays alive.
 */
export function catchStopSignals(): { readonly received: Promise<StopSignal>; dispose(): void } {
  const signals = Object.keys(SIGNAL_EXIT_CODES) as StopSignal[];
  const handlers = new Map<StopSignal, () => void>();
  // Signal listeners do not keep Node's event loop alive; a timer does.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const received = new Promise<StopSignal>((resolve) => {
    for (const signal of signals) {
      const handler = () => resolve(signal);
      handlers.set(signal, handler);
      process.on(signal, handler);
    }
  });
  return {
    received,
    dispose() {
      clearInterval(keepAlive);
      for (const [signal, handler] of handlers) process.off(signal, handler);
    },
  };
}
