/**
 * Network namespaces for the capture tests, named after this process so
 * that concurrent runs never meet: creating and deleting them, running
 * commands inside, entering one for a moment to open sockets there (a
 * socket stays in the namespace it was created in), a real dnsmasq, and UDP
 * sockets to send hand-made datagrams from.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { native } from '../../src/loader/native.js';
import { ipv4Bytes, ipv6Bytes } from '../support/packets.js';

const CLONE_NEWNET = 0x40000000;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const COMMAND_TIMEOUT_MS = 30_000;

export interface Netns {
  readonly name: string;
  /** Run a command inside; throws with its output when it fails. */
  run(command: string, args: readonly string[]): string;
  /** Run a command inside and return its result whatever the exit status. */
  attempt(command: string, args: readonly string[]): { status: number | null; stdout: string; stderr: string };
  /** Start a command inside (`ip netns exec` execs it, so the child's pid is the command's). */
  start(command: string, args: readonly string[]): ChildProcess;
  /** Run `body` with this thread inside the namespace: sockets it creates belong there. */
  enter<T>(body: () => T): T;
  dispose(): void;
}

function run(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** `bpfgen-dnscap-<pid>-<tag>`, with lo up. */
export function createNetns(tag: string): Netns {
  const name = `bpfgen-dnscap-${process.pid}-${tag}`;
  run('ip', ['netns', 'add', name]);
  const inside = (command: string, args: readonly string[]) => ['netns', 'exec', name, command, ...args];
  const netns: Netns = {
    name,
    run: (command, args) => run('ip', inside(command, args)),
    attempt(command, args) {
      const result = spawnSync('ip', inside(command, args), { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    },
    start: (command, args) => spawn('ip', inside(command, args), { stdio: ['ignore', 'pipe', 'pipe'] }),
    enter(body) {
      const target = openSync(`/run/netns/${name}`, 'r');
      const home = openSync('/proc/thread-self/ns/net', 'r');
      try {
        native().setns(target, CLONE_NEWNET);
        try {
          return body();
        } finally {
          native().setns(home, CLONE_NEWNET);
        }
      } finally {
        closeSync(target);
        closeSync(home);
      }
    },
    dispose: () => void spawnSync('ip', ['netns', 'del', name], { timeout: COMMAND_TIMEOUT_MS }),
  };
  try {
    netns.run('ip', ['link', 'set', 'lo', 'up']);
  } catch (error) {
    netns.dispose();
    throw error;
  }
  return netns;
}

/** Wait for a child to exit, killing it with SIGKILL after `ms`. */
export function exited(child: ChildProcess, ms = 10_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Resolve once `stream` has printed text matching `pattern`; reject after `ms` with what it printed. */
export function printed(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp, ms = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const source = child[stream]!;
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (pattern.test(text)) finish(() => resolve(text));
    };
    const onExit = () => finish(() => reject(new Error(`exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}: ${text}`)));
    const timer = setTimeout(() => finish(() => reject(new Error(`no ${pattern} within ${ms} ms: ${text}`))), ms);
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      source.off('data', onData);
      child.off('exit', onExit);
      settle();
    };
    source.on('data', onData);
    child.once('exit', onExit);
  });
}

export interface Dnsmasq {
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * A real dnsmasq in the namespace, answering only from its command line
 * (no resolv.conf, no /etc/hosts), stopped by its pid. Ready once a query
 * for `probe` is answered.
 */
export async function startDnsmasq(netns: Netns, pidFile: string, args: readonly string[], probe: { server: string; name: string }): Promise<Dnsmasq> {
  const child = netns.start('dnsmasq', ['--no-daemon', '--no-resolv', '--no-hosts', `--pid-file=${pidFile}`, '--bind-interfaces', ...args]);
  child.stdout!.resume();
  child.stderr!.resume();
  const dnsmasq = {
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      await exited(child, 5_000);
    },
  };
  for (let attempt = 0; attempt < 50; attempt++) {
    const answer = netns.attempt('dig', ['+short', '+tries=1', '+time=1', `@${probe.server}`, probe.name]);
    if (answer.status === 0 && answer.stdout.trim() !== '') return dnsmasq;
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await dnsmasq.stop();
  throw new Error(`dnsmasq in ${netns.name} did not answer ${probe.name} at ${probe.server}`);
}

function sockaddr(address: string, port: number): Uint8Array {
  const v6 = address.includes(':');
  const bytes = new Uint8Array(v6 ? 28 : 16);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, v6 ? AF_INET6 : AF_INET, true);
  view.setUint16(2, port, false);
  bytes.set(v6 ? ipv6Bytes(address) : ipv4Bytes(address), v6 ? 8 : 4);
  return bytes;
}

export interface UdpSocket {
  readonly fd: number;
  send(payload: Uint8Array, address: string, port: number): void;
  close(): void;
}

/** A UDP socket in the namespace bound to address:port (port 0: any). */
export function udpSocket(netns: Netns, address: string, port: number): UdpSocket {
  const shim = native();
  const fd = netns.enter(() => shim.socket(address.includes(':') ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  try {
    shim.bind(fd, sockaddr(address, port));
  } catch (error) {
    shim.close(fd);
    throw error;
  }
  return {
    fd,
    send: (payload, to, toPort) => void shim.sendto(fd, payload, 0, sockaddr(to, toPort)),
    close: () => shim.close(fd),
  };
}

/** Send one datagram from address:port (0: any) to `to`:`toPort` and close the socket. */
export function sendUdp(netns: Netns, from: { address: string; port: number }, to: { address: string; port: number }, payload: Uint8Array): void {
  const socket = udpSocket(netns, from.address, from.port);
  try {
    socket.send(payload, to.address, to.port);
  } finally {
    socket.close();
  }
}
