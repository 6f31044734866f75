/** How `bpfgen capture` prints DNS messages and its summary, as text and as JSON. */
import type { DnsCaptureStats } from '../loader/dns-capture.js';
import type { DnsEndpoint, DnsMessage } from '../loader/dns-frame.js';
import type { DnsSummary } from '../loader/dns-matcher.js';

const NS_PER_MS = 1_000_000n;

/** Local wall-clock time with microseconds, as tcpdump prints it: 13:04:05.123456. */
function clockTime(timestampNs: bigint): string {
  const date = new Date(Number(timestampNs / NS_PER_MS));
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const micros = Number((timestampNs / 1000n) % 1_000_000n);
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(micros, 6)}`;
}

/** UTC ISO 8601 with microseconds: 2024-05-01T13:04:05.123456Z. */
function isoTime(timestampNs: bigint): string {
  const milliseconds = new Date(Number(timestampNs / NS_PER_MS)).toISOString().slice(0, -1);
  return `${milliseconds}${String(Number((timestampNs / 1000n) % 1000n)).padStart(3, '0')}Z`;
}

function endpoint(at: DnsEndpoint): string {
  return at.address.includes(':') ? `[${at.address}]:${at.port}` : `${at.address}:${at.port}`;
}

function formatMs(ms: number): string {
  return `${ms.toFixed(3)} ms`;
}

/**
 * One line: time, direction, src → dst, kind, id, opcode, rcode, flags,
 * questions (name type), answers (name type data), and for a response
 * that completes a query, the latency.
 */
export function messageLine(message: DnsMessage, latencyMs: number | undefined): string {
  const questions = message.questions.map((q) => `${q.name} ${q.type}`).join(', ');
  const answers = message.answers.map((a) => `${a.name} ${a.type} ${a.data}`).join(', ');
  const parts = [
    clockTime(message.timestampNs),
    message.direction.padEnd(3),
    `${endpoint(message.src)} → ${endpoint(message.dst)}`,
    message.kind,
    `id 0x${message.id.toString(16).padStart(4, '0')}`,
    message.opcode,
    message.rcode,
    ...(message.flags.length > 0 ? [`[${message.flags.join(' ')}]`] : []),
    `q: ${questions || '-'}`,
    ...(message.kind === 'response' ? [`an: ${answers || '-'}`] : []),
    ...(latencyMs === undefined ? [] : [`(${formatMs(latencyMs)})`]),
    ...(message.status === 'malformed' ? [`MALFORMED: ${message.problem}`] : []),
    ...(message.status === 'fragment' ? ['FRAGMENT: first fragment only, questions and answers not seen'] : []),
  ];
  return parts.join(' ');
}

/** The message as one JSON object; the timestamp as ISO text and as a decimal string of nanoseconds (too big for a JSON number). */
export function messageJson(message: DnsMessage, latencyMs: number | undefined): string {
  const { timestampNs, ...rest } = message;
  return JSON.stringify({ time: isoTime(timestampNs), timestampNs: timestampNs.toString(), ...rest, ...(latencyMs !== undefined && { latencyMs }) });
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}

export function summaryText(where: string, summary: DnsSummary, stats: DnsCaptureStats): string {
  const rows: [string, string][] = [
    ['queries', `${summary.queries}`],
    ['responses', `${summary.responses}  (${summary.matched} matched, ${summary.unmatchedResponses} without a query seen)`],
    ['unanswered', `${summary.unanswered}`],
    ['NXDOMAIN', `${summary.nxdomain}  (${percent(summary.nxdomainRate)} of responses)`],
    ['SERVFAIL', `${summary.servfail}  (${percent(summary.servfailRate)} of responses)`],
    ['latency p50', summary.latency ? formatMs(summary.latency.p50Ms) : '-'],
    ['latency p99', summary.latency ? `${formatMs(summary.latency.p99Ms)}  (${summary.latency.samples} matched)` : '-'],
    ['malformed', `${summary.malformed}`],
    ['fragments', `${summary.fragments}`],
    ['kernel drops', `${stats.kernelDropped}  (${stats.kernelReceived} frames kept by the filter, ${stats.loopbackDuplicates} loopback duplicates skipped)`],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return [`Summary (${where}):`, ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`), ''].join('\n');
}

export function summaryJson(summary: DnsSummary, stats: DnsCaptureStats): string {
  return JSON.stringify({ summary, capture: stats });
}
