import { spawn, spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DNS_FORWARD_CONFIG_MODES } from '../../loader/dns-forward.js';
import { XDP_ATTACH_METHODS } from '../../loader/xdp-attachment.js';
import { choiceFlag, parseCommandLine } from '../args.js';
import { catchStopSignals, SIGNAL_EXIT_CODES } from '../attach-support.js';
import type { DemoSettings } from '../demo-netns.js';
import { type Command } from '../usage.js';

const DNS_IP = '100.127.136.241';
const PREFIX_LENGTH = 16;
const LISTEN_PORT = 5053;
/** The veth pair that carries DNS_IP inside the namespace (this kernel may have no dummy driver). */
const VETH = { carrier: 'demo0', peer: 'demo1' } as const;
/** Bounds on the steps: `ip` commands, and the demo inside the namespace (its queries time out after 2 s each). */
const IP_TIMEOUT_MS = 10_000;
const INSIDE_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

/** The namespace half, beside this file's directory in src/cli and dist/cli. */
const INSIDE_SCRIPT = fileURLToPath(new URL('../demo-netns.js', import.meta.url));

class DemoSetupError extends Error {}

function ip(...args: string[]): void {
  const result = spawnSync('ip', args, { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  if (result.error) throw new DemoSetupError(`cannot run ip (iproute2): ${result.error.message}`);
  if (result.status !== 0) throw new DemoSetupError(`ip ${args.join(' ')} failed: ${result.stderr.trim()}`);
}

function say(label: string, text: string): void {
  process.stdout.write(`${label.padEnd(10)}${text}\n`);
}

/** Run the namespace half; a stop signal received here is passed on, and the wait is bounded. */
async function runInside(netns: string, settings: DemoSettings, signals: ReturnType<typeof catchStopSignals>): Promise<number> {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, INSIDE_SCRIPT, JSON.stringify(settings)], { stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), INSIDE_TIMEOUT_MS)));
  try {
    const first = await Promise.race([exited, signals.received, timedOut]);
    if (typeof first === 'number') return first;
    // A Ctrl-C reaches the whole process group; SIGTERM and a timeout reach only us, so pass them on.
    if (child.exitCode === null) child.kill(first === 'timeout' ? 'SIGTERM' : first);
    const grace = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), STOP_GRACE_MS).unref());
    if ((await Promise.race([exited, grace])) === 'late') child.kill('SIGKILL');
    await exited;
    if (first === 'timeout') throw new DemoSetupError(`the demo inside ${netns} did not finish within ${INSIDE_TIMEOUT_MS / 1000} s`);
    return SIGNAL_EXIT_CODES[first];
  } finally {
    clearTimeout(timer);
  }
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'show xdp-dns-forward at work with real DNS traffic, in a throwaway network namespace (root)',
  help: `Usage: bpfgen demo [--config inline|map] [--attach auto|link|netlink]

Shows NetBird's DNS port sharing end to end, with nothing to set up and
nothing left behind. As root, in a new network namespace bpfgen-demo-PID:

  1. brings lo up and puts ${DNS_IP}/${PREFIX_LENGTH} on a veth end (${VETH.carrier});
  2. starts two DNS responders: one on 0.0.0.0:53 answering postgres.netbird.cloud
     with 192.0.2.1 (the daemon that holds port 53), one on ${DNS_IP}:${LISTEN_PORT}
     answering 100.127.16.22 (the agent's resolver);
  3. queries ${DNS_IP}:53: the daemon answers;
  4. attaches xdp-dns-forward to lo and prints what it did and its instructions;
  5. queries ${DNS_IP}:53 again: now the agent's resolver answers, from port 53;
  6. detaches, queries once more, and removes the namespace.

Ctrl-C (or SIGTERM) at any point undoes everything and exits 130 (143).
Needs root, iproute2 and a kernel with XDP.

Options:
  --config inline|map         where the program keeps its settings (default inline)
  --attach auto|link|netlink  how it is attached (default auto: a bpf_link if the kernel has XDP links)

On a host of your own, the same in two commands:
  bpfgen attach xdp-dns-forward --iface lo --dns-ip ${DNS_IP} --listen-port ${LISTEN_PORT} --pin /sys/fs/bpf/dns-fwd
  bpfgen detach --pin /sys/fs/bpf/dns-fwd`,
  async run(argv) {
    const { values } = parseCommandLine('demo', argv, { config: { type: 'string' }, attach: { type: 'string' } }, false);
    const settings: DemoSettings = {
      dnsIp: DNS_IP,
      listenPort: LISTEN_PORT,
      config: choiceFlag('--config', values.config as string | undefined, DNS_FORWARD_CONFIG_MODES, 'inline'),
      attach: choiceFlag('--attach', values.attach as string | undefined, XDP_ATTACH_METHODS, 'auto'),
    };
    if (process.getuid?.() !== 0) {
      process.stderr.write('bpfgen: demo: needs root: it creates a network namespace and attaches an XDP program (run it with sudo)\n');
      return 1;
    }
    const netns = `bpfgen-demo-${process.pid}`;
    // Caught before anything is created, so that Ctrl-C always reaches the teardown below.
    const signals = catchStopSignals();
    let created = false;
    try {
      ip('netns', 'add', netns);
      created = true;
      ip('-n', netns, 'link', 'set', 'lo', 'up');
      ip('-n', netns, 'link', 'add', VETH.carrier, 'type', 'veth', 'peer', 'name', VETH.peer);
      ip('-n', netns, 'address', 'add', `${DNS_IP}/${PREFIX_LENGTH}`, 'dev', VETH.carrier);
      ip('-n', netns, 'link', 'set', VETH.carrier, 'up');
      ip('-n', netns, 'link', 'set', VETH.peer, 'up');
      say('setup', `network namespace ${netns}: lo up, ${DNS_IP}/${PREFIX_LENGTH} on veth ${VETH.carrier}`);
      return await runInside(netns, settings, signals);
    } catch (error) {
      if (!(error instanceof DemoSetupError)) throw error;
      process.stderr.write(`bpfgen: demo: ${error.message}\n`);
      return 1;
    } finally {
      if (created) {
        const removed = spawnSync('ip', ['netns', 'delete', netns], { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
        if (removed.status === 0) say('teardown', `removed ${netns} (its interfaces, sockets and XDP program with it)`);
        else process.stderr.write(`bpfgen: demo: could not remove ${netns}: ${removed.stderr.trim()}; remove it with: ip netns delete ${netns}\n`);
      }
      signals.dispose();
    }
  },
};
