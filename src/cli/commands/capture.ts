import { captureDns, type DnsCapture } from '../../loader/dns-capture.js';
import { DnsTransactionMatcher } from '../../loader/dns-matcher.js';
import { BpfError, FeatureError, NativeUnavailableError } from '../../loader/errors.js';
import { interfaceIndex } from '../../loader/link.js';
import { PacketSocketError } from '../../loader/packet-socket.js';
import { parseOptionValue } from '../../programs/options.js';
import { SOCKET_DNS_FILTER_OPTIONS } from '../../programs/socket-dns-filter.js';
import { integerFlag, parseCommandLine } from '../args.js';
import { messageJson, messageLine, summaryJson, summaryText } from '../capture-format.js';
import { UsageError, type Command } from '../usage.js';

const HELP = `Usage: bpfgen capture --iface IF [--count N] [--json] [--port 53]

Captures DNS over UDP on an interface and prints each message, decoded:
time, direction (in/out), source → destination, query or response, id,
opcode, rcode, flags, questions and answers, and for a response the time
since its query. The socket-dns-filter program runs on a packet socket,
so only DNS reaches this process: UDP from or to the port, QDCOUNT 1,
IPv4 (with options) or IPv6, no non-first fragments. On lo, where a packet
socket sees each frame twice, each message is printed once, as tcpdump does.

On exit (Ctrl-C, or after --count messages) a summary goes to stderr:
queries and responses, NXDOMAIN and SERVFAIL counts and rates, unanswered
queries, and p50/p99 latency of the responses matched to their queries by
(client address, client port, id). A message that does not decode is
shown as MALFORMED and counted. Needs root (or CAP_BPF and CAP_NET_RAW).

Options:
  --iface IF   interface to capture on; 'any' for all interfaces
  --count N    exit after N messages
  --json       one JSON object per message on stdout; logs and the summary
               (one JSON object) on stderr
  --port P     the DNS port, as source or destination (default 53)

Examples:
  sudo bpfgen capture --iface lo
  sudo bpfgen capture --iface eth0 --count 100 --json > dns.jsonl
  sudo bpfgen capture --iface any --port 5353`;

/** Errors that mean this machine cannot capture (privileges, kernel, shim), not bad input. */
function isCaptureRefusal(error: unknown): error is Error {
  return error instanceof NativeUnavailableError || error instanceof BpfError || error instanceof FeatureError || error instanceof PacketSocketError;
}

/** The interface to capture on, checked to exist (undefined for 'any'), by name so that messages name it. */
function checkedInterface(name: string): string | undefined {
  if (name === 'any') return undefined;
  try {
    interfaceIndex(name);
  } catch (error) {
    if (error instanceof NativeUnavailableError) throw error;
    throw new UsageError(`--iface: no network interface named '${name}'`);
  }
  return name;
}

export const captureCommand: Command = {
  name: 'capture',
  summary: 'print the DNS messages on an interface, decoded, with a query/response summary',
  help: HELP,
  async run(argv) {
    const { values } = parseCommandLine(
      'capture',
      argv,
      { iface: { type: 'string' }, count: { type: 'string' }, json: { type: 'boolean' }, port: { type: 'string' } },
      false,
    );
    if (values.iface === undefined) throw new UsageError('capture: --iface IF is required (any for all interfaces)');
    const count = values.count === undefined ? Infinity : integerFlag('--count', values.count, 1, Number.MAX_SAFE_INTEGER);
    const [portSpec] = SOCKET_DNS_FILTER_OPTIONS;
    const port = values.port === undefined ? portSpec.default : parseOptionValue(portSpec, values.port);
    const json = values.json === true;

    let capture: DnsCapture;
    try {
      capture = captureDns({ iface: checkedInterface(values.iface), port });
    } catch (error) {
      if (!isCaptureRefusal(error)) throw error;
      process.stderr.write(`bpfgen: capture: ${error.message}\n`);
      return 1;
    }
    const where = `${values.iface === 'any' ? 'all interfaces' : values.iface}, UDP port ${port}`;
    const stop = () => capture.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // A reader that goes away (`| head`) ends the capture as Ctrl-C would.
    process.stdout.once('error', stop);
    process.stderr.write(`bpfgen capture: capturing DNS on ${where}${count === Infinity ? '' : `, ${count} message${count === 1 ? '' : 's'}`}; Ctrl-C stops\n`);

    const matcher = new DnsTransactionMatcher();
    let seen = 0;
    let failure: Error | undefined;
    try {
      for await (const message of capture) {
        const latencyMs = matcher.observe(message);
        process.stdout.write(`${json ? messageJson(message, latencyMs) : messageLine(message, latencyMs)}\n`);
        if (++seen >= count) break;
      }
    } catch (error) {
      if (!isCaptureRefusal(error)) throw error;
      failure = error;
    } finally {
      capture.close();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.off('error', stop);
    }
    if (failure) process.stderr.write(`bpfgen: capture: ${failure.message}\n`);
    const summary = matcher.summary();
    const stats = capture.stats();
    process.stderr.write(json ? `${summaryJson(summary, stats)}\n` : summaryText(where, summary, stats));
    return failure ? 1 : 0;
  },
};
