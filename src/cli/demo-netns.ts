/**
 * The half of `bpfgen demo` that runs inside its network namespace (started
 * by commands/demo.ts through `ip netns exec`): two DNS responders, a query
 * before and after attaching xdp-dns-forward to lo, the instructions that
 * made the difference, and a query after detaching. A signal stops it at the
 * next step, after undoing what it set up.
 *
 * Usage: node demo-netns.js JSON   where JSON is DemoSettings.
 */
import { disassemble } from '../asm/disasm/index.js';
import { attachDnsForward, type DnsForward, type DnsForwardConfigMode } from '../loader/dns-forward.js';
import type { XdpAttachMethod } from '../loader/xdp-attachment.js';
import { buildXdpDnsForward, buildXdpDnsForwardMapConfigured } from '../programs/xdp-dns-forward.js';
import { catchStopSignals, isSystemRefusal, SIGNAL_EXIT_CODES, type StopSignal } from './attach-support.js';
import { DnsResponder, queryA } from './dns-responder.js';

export interface DemoSettings {
  readonly dnsIp: string;
  readonly listenPort: number;
  readonly config: DnsForwardConfigMode;
  readonly attach: XdpAttachMethod;
}

export const DEMO_NAME = 'postgres.netbird.cloud';
/** What the daemon on 0.0.0.0:53 answers, and what the agent's resolver answers. */
export const DEMO_ANSWERS = { daemon: '192.0.2.1', agent: '100.127.16.22' } as const;

class Stopped extends Error {
  constructor(readonly signal: StopSignal) {
    super(`stopped by ${signal}`);
  }
}

function say(label: string, ...lines: string[]): void {
  const [first = '', ...rest] = lines;
  process.stdout.write(`${label.padEnd(10)}${first}\n${rest.map((line) => `${' '.repeat(10)}${line}\n`).join('')}`);
}

async function run(settings: DemoSettings, checkpoint: () => void, cleanups: (() => Promise<void>)[]): Promise<void> {
  const { dnsIp, listenPort } = settings;
  const daemon = await DnsResponder.start({ address: '0.0.0.0', port: 53, answers: { [DEMO_NAME]: DEMO_ANSWERS.daemon } });
  cleanups.push(() => daemon.close());
  const agent = await DnsResponder.start({ address: dnsIp, port: listenPort, answers: { [DEMO_NAME]: DEMO_ANSWERS.agent } });
  cleanups.push(() => agent.close());
  say('resolvers', `0.0.0.0:53 answers ${DEMO_NAME} A ${DEMO_ANSWERS.daemon} (the daemon that holds port 53)`, `${dnsIp}:${listenPort} answers ${DEMO_NAME} A ${DEMO_ANSWERS.agent} (the agent's resolver)`);

  const ask = async (label: string): Promise<void> => {
    checkpoint();
    const before = { daemon: daemon.queries, agent: agent.queries };
    const answer = await queryA(dnsIp, 53, DEMO_NAME);
    const by = daemon.queries > before.daemon ? 'the daemon on 0.0.0.0:53' : agent.queries > before.agent ? `the agent's resolver on ${dnsIp}:${listenPort}` : 'nobody we know';
    say(label, `query ${dnsIp}:53 for ${DEMO_NAME} A → ${answer.addresses.join(', ') || answer.rcode}`, `reply from ${answer.from.address}:${answer.from.port}, answered by ${by}`);
  };

  await ask('before');
  checkpoint();
  const forward: DnsForward = await attachDnsForward({ iface: 'lo', dnsIp, listenPort, config: settings.config, attach: settings.attach });
  cleanups.push(() => forward.close());
  say('attach', ...forward.describe());
  const assembled = settings.config === 'inline' ? buildXdpDnsForward({ dnsIp, listenPort }) : buildXdpDnsForwardMapConfigured();
  say('program', ...disassemble(assembled).trimEnd().split('\n'));
  await ask('after');

  checkpoint();
  cleanups.pop();
  await forward.close();
  say('detach', `detached ${forward.info.programName} from lo`);
  await ask('again');
}

async function main(): Promise<number> {
  const settings = JSON.parse(process.argv[2] ?? '{}') as DemoSettings;
  const signals = catchStopSignals();
  let stopped: StopSignal | undefined;
  void signals.received.then((signal) => (stopped = signal));
  const checkpoint = () => {
    if (stopped) throw new Stopped(stopped);
  };
  const cleanups: (() => Promise<void>)[] = [];
  try {
    // Every step is short (a query waits at most two seconds), so a signal is acted on at the next checkpoint.
    await run(settings, checkpoint, cleanups);
    return 0;
  } catch (error) {
    if (error instanceof Stopped) {
      say('stopped', `${error.signal}: undoing what the demo set up`);
      return SIGNAL_EXIT_CODES[error.signal];
    }
    process.stderr.write(`bpfgen: demo: ${error instanceof Error ? error.message : String(error)}\n`);
    if (!isSystemRefusal(error) && process.env.BPFGEN_DEBUG) process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    return 1;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => process.stderr.write(`bpfgen: demo: cleanup: ${String(error)}\n`));
    signals.dispose();
  }
}

main().then((code) => {
  process.exitCode = code;
});
