/**
 * `bpfgen capture` as users run it, in a namespace of this test: a real
 * dnsmasq on lo answers dig, hand-made datagrams add an unanswered query,
 * a SERVFAIL and a malformed response, and traffic the capture must not
 * report goes around them. The decoded answers are compared with what dig
 * printed for the same exchange, and the summary with counts and latency
 * percentiles computed here from the JSON lines.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compiledCli, type CompiledCli } from '../cli/compiled-cli.js';
import { describeWithBpf } from '../loader/support.js';
import { query, rawDns, ZONE } from './live-traffic.js';
import { createNetns, exited, printed, sendUdp, startDnsmasq, type Dnsmasq, type Netns } from './netns.js';

const DNS = { v4: '192.0.2.53', v6: '2001:db8::53' } as const;
/** On lo, nothing listening: the kernel answers with ICMP. */
const SILENT = '192.0.2.54';
/** Hand-made responses come from here. */
const FAKE_SERVER = '192.0.2.55';

interface DigRecord {
  readonly name: string;
  readonly ttl: number;
  readonly class: string;
  readonly type: string;
  readonly data: string;
}

/** dig's answer section (`+noall +answer`): `name. ttl class type data`, names without the final dot. */
function digAnswers(output: string): DigRecord[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith(';'))
    .map((line) => {
      const [name, ttl, klass, type, ...data] = line.split(/\s+/);
      return { name: name!.replace(/\.$/, ''), ttl: Number(ttl), class: klass!, type: type!, data: data.join(' ').replace(/\.$/, '') };
    });
}

interface JsonMessage {
  time: string;
  timestampNs: string;
  direction: string;
  ipVersion: number;
  src: { address: string; port: number };
  dst: { address: string; port: number };
  id: number;
  kind: 'query' | 'response';
  rcode: string;
  questions: { name: string; type: string; class: string }[];
  answers: DigRecord[];
  status: string;
  latencyMs?: number;
}

function nearestRank(sorted: readonly number[], p: number): number {
  return sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
}

describeWithBpf('bpfgen capture', () => {
  let cli: CompiledCli;
  let netns: Netns;
  let dnsmasq: Dnsmasq;
  let dir: string;
  beforeAll(async () => {
    cli = compiledCli();
    dir = mkdtempSync(join(tmpdir(), `bpfgen-dnscap-${process.pid}-cli-`));
    netns = createNetns('cli');
    for (const address of [DNS.v4, SILENT, FAKE_SERVER]) netns.run('ip', ['addr', 'add', `${address}/32`, 'dev', 'lo']);
    netns.run('ip', ['addr', 'add', `${DNS.v6}/128`, 'dev', 'lo', 'nodad']);
    dnsmasq = await startDnsmasq(
      netns,
      join(dir, 'dnsmasq.pid'),
      [
        `--listen-address=${DNS.v4}`,
        `--listen-address=${DNS.v6}`,
        '--port=53',
        '--local=/test/',
        `--address=/${ZONE.a}/${ZONE.aAddress}`,
        `--host-record=${ZONE.six},${ZONE.sixV4},${ZONE.sixV6}`,
        `--txt-record=${ZONE.txt},${ZONE.txtValue}`,
      ],
      { server: DNS.v4, name: ZONE.a },
    );
  }, 180_000);
  afterAll(async () => {
    await dnsmasq?.stop();
    netns?.dispose();
    cli?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const capture = (args: readonly string[]) => netns.start(process.execPath, [join(cli.dir, 'dist', 'cli', 'main.js'), 'capture', '--iface', 'lo', ...args]);
  const dig = (args: readonly string[]) => netns.run('dig', ['+tries=1', '+time=2', '+noall', '+answer', ...args]);

  it('--json: one object per message, names and answers as dig saw them, a summary with the right counts on Ctrl-C', async () => {
    const child = capture(['--json']);
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    try {
      await printed(child, 'stderr', /capturing DNS on lo, UDP port 53/);

      const answerA = digAnswers(dig([`@${DNS.v4}`, ZONE.a, 'A']));
      const answerAaaa = digAnswers(dig([`@${DNS.v6}`, ZONE.six, 'AAAA']));
      const answerTxt = digAnswers(dig([`@${DNS.v4}`, ZONE.txt, 'TXT']));
      expect(digAnswers(dig([`@${DNS.v4}`, 'nope.test', 'A']))).toEqual([]);
      // Not DNS over UDP, or not QDCOUNT 1: none of it may appear.
      netns.run('dig', ['+tcp', '+short', `@${DNS.v4}`, ZONE.a]);
      netns.run('ping', ['-c', '1', '-W', '2', DNS.v4]);
      sendUdp(netns, { address: DNS.v4, port: 0 }, { address: SILENT, port: 9999 }, query('other-port.test', 0x0a01));
      sendUdp(netns, { address: DNS.v4, port: 0 }, { address: SILENT, port: 53 }, rawDns(0x0a02, 0x0100, 0));
      sendUdp(netns, { address: DNS.v4, port: 0 }, { address: SILENT, port: 53 }, rawDns(0x0a03, 0x0100, 2, new Uint8Array(30)));
      // Deliberately unanswered.
      sendUdp(netns, { address: DNS.v4, port: 40050 }, { address: SILENT, port: 53 }, query('unanswered.test', 0x0a04));
      // A SERVFAIL exchange, and a malformed response nobody asked for.
      sendUdp(netns, { address: DNS.v4, port: 40055 }, { address: FAKE_SERVER, port: 53 }, query('fail.test', 0x0b01));
      const servfail = dnsPacket.encode({ type: 'response', id: 0x0b01, flags: 2, questions: [{ type: 'A', name: 'fail.test' }] });
      sendUdp(netns, { address: FAKE_SERVER, port: 53 }, { address: DNS.v4, port: 40055 }, servfail);
      sendUdp(netns, { address: FAKE_SERVER, port: 53 }, { address: DNS.v4, port: 40056 }, rawDns(0x0c01, 0x8180, 1, Uint8Array.of(30, 0x61)));

      const EXPECTED = 12;
      const deadline = Date.now() + 20_000;
      while (stdout.split('\n').filter(Boolean).length < EXPECTED && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      // Anything that should not be reported would have arrived by now.
      await new Promise((resolve) => setTimeout(resolve, 500));
      child.kill('SIGINT');
      expect(await exited(child)).toBe(0);

      const messages = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as JsonMessage);
      expect(messages).toHaveLength(EXPECTED);
      // lo: each message once, and as the incoming copy.
      expect(messages.every((m) => m.direction === 'in')).toBe(true);
      expect(new Set(messages.map((m) => `${m.kind} ${m.src.address} ${m.src.port} ${m.id}`)).size).toBe(EXPECTED);

      const find = (kind: string, name: string, type: string) => {
        const found = messages.filter((m) => m.kind === kind && m.questions.some((q) => q.name === name && q.type === type));
        expect(found, `${kind} ${name} ${type}`).toHaveLength(1);
        return found[0]!;
      };
      for (const [name, type, dug] of [[ZONE.a, 'A', answerA], [ZONE.six, 'AAAA', answerAaaa], [ZONE.txt, 'TXT', answerTxt]] as const) {
        expect(dug.length).toBeGreaterThan(0);
        const response = find('response', name, type);
        expect(response.answers).toEqual(dug);
        const ask = find('query', name, type);
        expect(response.id).toBe(ask.id);
        expect(response.dst).toEqual(ask.src);
      }
      expect(answerA).toEqual([{ name: ZONE.a, ttl: expect.any(Number), class: 'IN', type: 'A', data: ZONE.aAddress }]);
      expect(answerTxt[0]?.data).toBe(`"${ZONE.txtValue}"`);
      expect(find('response', ZONE.six, 'AAAA')).toMatchObject({ ipVersion: 6, src: { address: DNS.v6, port: 53 } });
      expect(find('response', 'nope.test', 'A')).toMatchObject({ rcode: 'NXDOMAIN', answers: [] });
      expect(find('query', 'unanswered.test', 'A')).toMatchObject({ id: 0x0a04, dst: { address: SILENT, port: 53 } });
      expect(find('response', 'fail.test', 'A')).toMatchObject({ rcode: 'SERVFAIL', src: { address: FAKE_SERVER, port: 53 } });
      const malformed = messages.filter((m) => m.status === 'malformed');
      expect(malformed).toMatchObject([{ id: 0x0c01, kind: 'response', dst: { port: 40056 } }]);
      for (const m of messages) expect(new Date(m.time).getTime()).toBe(Number(BigInt(m.timestampNs) / 1_000_000n));

      // Latencies from the timestamps of each query and its response, paired here.
      const latencies = messages
        .filter((m) => m.kind === 'response')
        .flatMap((response) => {
          const ask = messages.find((m) => m.kind === 'query' && m.id === response.id && m.src.address === response.dst.address && m.src.port === response.dst.port);
          return ask ? [Number(BigInt(response.timestampNs) - BigInt(ask.timestampNs)) / 1e6] : [];
        })
        .sort((a, b) => a - b);
      expect(latencies).toHaveLength(5);
      expect(messages.filter((m) => m.latencyMs !== undefined).map((m) => m.latencyMs).sort((a, b) => a! - b!)).toEqual(latencies);

      const lines = stderr.trim().split('\n');
      expect(lines.every((line) => line.startsWith('bpfgen capture:') || line.startsWith('{'))).toBe(true);
      const { summary, capture: stats } = JSON.parse(lines.at(-1)!) as { summary: { [key: string]: unknown; latency: { p50Ms: number; p99Ms: number; samples: number } }; capture: { [key: string]: number } };
      expect(summary).toMatchObject({
        queries: 6,
        responses: 6,
        matched: 5,
        unmatchedResponses: 1,
        unanswered: 1,
        nxdomain: 1,
        servfail: 1,
        malformed: 1,
        fragments: 0,
      });
      expect(summary.nxdomainRate).toBeCloseTo(1 / 6);
      expect(summary.servfailRate).toBeCloseTo(1 / 6);
      expect(summary.latency).toEqual({ samples: 5, p50Ms: nearestRank(latencies, 50), p99Ms: nearestRank(latencies, 99) });
      expect(stats).toMatchObject({ messages: EXPECTED, kernelDropped: 0, loopbackDuplicates: EXPECTED, kernelReceived: 2 * EXPECTED, skipped: 0 });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('--count: exits by itself after N messages, one text line each, and prints the summary', async () => {
    const child = capture(['--count', '2']);
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    try {
      await printed(child, 'stderr', /capturing DNS on lo, UDP port 53, 2 messages/);
      dig([`@${DNS.v4}`, ZONE.a, 'A']);
      expect(await exited(child, 20_000)).toBe(0);
      const lines = stdout.trim().split('\n');
      expect(lines).toHaveLength(2);
      const time = String.raw`\d{2}:\d{2}:\d{2}\.\d{6}`;
      const endpoint = String.raw`192\.0\.2\.53:\d+`;
      expect(lines[0]).toMatch(new RegExp(`^${time} in  ${endpoint} → 192\\.0\\.2\\.53:53 query id 0x[0-9a-f]{4} QUERY NOERROR \\[rd( ad)?\\] q: ${ZONE.a} A$`));
      expect(lines[1]).toMatch(
        new RegExp(`^${time} in  192\\.0\\.2\\.53:53 → ${endpoint} response id 0x[0-9a-f]{4} QUERY NOERROR \\[[a-z ]+\\] q: ${ZONE.a} A an: ${ZONE.a} A ${ZONE.aAddress} \\(\\d+\\.\\d{3} ms\\)$`),
      );
      expect(stderr).toMatch(/queries +1\n/);
      expect(stderr).toMatch(/responses +1 +\(1 matched, 0 without a query seen\)/);
      expect(stderr).toMatch(/latency p50 +\d+\.\d{3} ms/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('ends like Ctrl-C when the reader of its output goes away', async () => {
    const child = capture(['--json']);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    try {
      await printed(child, 'stderr', /capturing DNS/);
      dig([`@${DNS.v4}`, ZONE.a, 'A']);
      await printed(child, 'stdout', /\n/);
      child.stdout!.destroy();
      // The next write finds the pipe closed.
      dig([`@${DNS.v4}`, ZONE.a, 'A']);
      expect(await exited(child, 20_000)).toBe(0);
      expect(JSON.parse(stderr.trim().split('\n').at(-1)!)).toHaveProperty('summary');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('without the privileges it needs: one line naming them, exit code 1', () => {
    const drop = (...caps: string[]) => ['setpriv', ...caps, '--'];
    const unprivileged = cli.run(['capture', '--iface', 'lo'], drop('--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'));
    expect(unprivileged.stderr).toMatch(/^bpfgen: capture: bpf\(BPF_PROG_LOAD\) was not permitted \(EPERM\): .*CAP_BPF.*\n$/);
    expect(unprivileged.status).toBe(1);
    const noRawSockets = cli.run(['capture', '--iface', 'lo'], drop('--inh-caps=-net_raw', '--bounding-set=-net_raw'));
    expect(noRawSockets.stderr).toBe('bpfgen: capture: cannot open a packet socket on lo: EPERM: packet sockets need CAP_NET_RAW (run as root)\n');
    expect(noRawSockets.status).toBe(1);
    expect(noRawSockets.stdout + unprivileged.stdout).toBe('');
  });

  it('bad flags are one line and exit code 2', () => {
    for (const [args, message] of [
      [['capture'], /^bpfgen: capture: --iface IF is required \(any for all interfaces\)\n$/],
      [['capture', '--iface', 'nosuch0'], /^bpfgen: --iface: no network interface named 'nosuch0'\n$/],
      [['capture', '--iface', 'lo', '--port', '0'], /^bpfgen: --port: '0' is not a port number 1-65535\n$/],
      [['capture', '--iface', 'lo', '--count', '0'], /^bpfgen: --count: 0 is out of range/],
      [['capture', '--iface', 'lo', '--bogus'], /^bpfgen: capture: Unknown option '--bogus'/],
    ] as const) {
      const result = cli.run(args);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.status).toBe(2);
      expect(result.stdout).toBe('');
    }
  });
});
