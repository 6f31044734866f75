/**
 * Throwaway network namespaces for tests: created with a unique name
 * (`bpfgen-<area>-<pid>-<n>`), commands run inside with `ip netns exec`,
 * long-running processes started inside and stopped by their PID, and
 * everything removed by `delete()` — or, should a test run die before its
 * afterAll, when this process exits.
 *
 * `ip netns exec` execs the command in place, so the PID of a started
 * process is the command's own.
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';

/** Longest a synchronous command inside a namespace may take. */
const COMMAND_TIMEOUT_MS = 30_000;
/** How long a process gets to exit after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 3_000;

export interface CommandResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Add a Node IPC channel (the command must be node): messages through `process.send`. */
  readonly ipc?: boolean;
}

/** A process started inside a namespace. */
export class NetnsProcess {
  #stdout = '';
  #stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly child: ChildProcess,
    readonly description: string,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.#stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.#stderr += chunk));
    this.exited = new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
    // Awaited by stop() or the test; an unobserved spawn failure must not crash the runner.
    this.exited.catch(() => undefined);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.description} did not start`);
    return this.child.pid;
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** The exit status once it has exited, else undefined. */
  get exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.#exit;
  }

  /** Send a signal to this process (by its PID). */
  signal(signal: NodeJS.Signals): void {
    if (this.#exit === undefined) process.kill(this.pid, signal);
  }

  /** Wait for exit, at most `timeoutMs`; undefined if it is still running then. */
  async waitForExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
    if (this.#exit) return this.#exit;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Wait until its output matches, at most `timeoutMs`; throws with the output so far otherwise (or if it exits first). */
  async waitForOutput(pattern: RegExp, timeoutMs = 10_000, stream: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = (stream === 'stdout' ? this.#stdout : this.#stderr).match(pattern);
      if (match) return match;
      if (this.#exit) throw new Error(`${this.description} exited (${JSON.stringify(this.#exit)}) before printing ${pattern}; stdout: ${this.#stdout} stderr: ${this.#stderr}`);
      if (Date.now() > deadline) throw new Error(`${this.description} did not print ${pattern} within ${timeoutMs} ms; stdout: ${this.#stdout} stderr: ${this.#stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** SIGTERM, then SIGKILL after a grace period; resolves once it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.#exit || this.child.pid === undefined) return;
    this.signal(signal);
    if ((await this.waitForExit(STOP_GRACE_MS)) === undefined) {
      this.signal('SIGKILL');
      await this.exited;
    }
  }

  /** Synchronous last resort for process exit: SIGKILL if still running. */
  killNow(): void {
    if (this.#exit || this.child.pid === undefined) return;
    try {
      process.kill(this.child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

let counter = 0;
const live = new Set<Netns>();

// Namespaces outlive their creator: remove any a dying test run left.
process.once('exit', () => {
  for (const netns of live) netns.deleteNow();
});

/** Run a host command with a time bound; never throws for a non-zero exit. */
export function runCommand(command: string, args: readonly string[], options: CommandOptions = {}): CommandResult {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    input: options.input,
    timeout: options.timeoutMs ?? COMMAND_TIMEOUT_MS,
    env: options.env ?? process.env,
  });
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

function check(result: CommandResult, what: string): string {
  if (result.status !== 0) throw new Error(`${what} failed (${result.signal ?? `exit ${result.status}`}): ${result.stderr.trim() || result.stdout.trim()}`);
  return result.stdout;
}

export class Netns {
  readonly #processes = new Set<NetnsProcess>();
  #deleted = false;

  private constructor(readonly name: string) {}

  /** Create `bpfgen-<area>-<pid>-<n>` (area: a short word for the test file, e.g. `dnsfwd`), with `lo` up. */
  static create(area: string): Netns {
    const name = `bpfgen-${area}-${process.pid}-${++counter}`;
    check(runCommand('ip', ['netns', 'add', name]), `ip netns add ${name}`);
    const netns = new Netns(name);
    live.add(netns);
    try {
      netns.execOk('ip', ['link', 'set', 'lo', 'up']);
    } catch (error) {
      netns.deleteNow();
      throw error;
    }
    return netns;
  }

  /** Run a command inside and wait for it (bounded); never throws for a non-zero exit. */
  exec(command: string, args: readonly string[] = [], options: CommandOptions = {}): CommandResult {
    return runCommand('ip', ['netns', 'exec', this.name, command, ...args], options);
  }

  /** Run a command inside; its stdout, or an error with its stderr when it fails. */
  execOk(command: string, args: readonly string[] = [], options: CommandOptions = {}): string {
    return check(this.exec(command, args, options), `${command} ${args.join(' ')} in ${this.name}`);
  }

  /** Start a long-running command inside; it is stopped by stopAll() or delete(). */
  start(command: string, args: readonly string[] = [], options: StartOptions = {}): NetnsProcess {
    const stdio: StdioOptions = options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
    const child = spawn('ip', ['netns', 'exec', this.name, command, ...args], { stdio, env: options.env ?? process.env });
    const started = new NetnsProcess(child, `${command} ${args.join(' ')} in ${this.name}`);
    this.#processes.add(started);
    void started.exited.finally(() => this.#processes.delete(started)).catch(() => undefined);
    return started;
  }

  /**
   * A veth pair: `name` here and `peer` in `peerNetns` (default: here too),
   * both up. Interfaces live in the namespace, so their names need only be
   * unique within it.
   */
  addVeth(name: string, peer: string, peerNetns: Netns = this): void {
    check(runCommand('ip', ['-n', this.name, 'link', 'add', name, 'type', 'veth', 'peer', 'name', peer, 'netns', peerNetns.name]), `creating veth ${name}/${peer}`);
    this.execOk('ip', ['link', 'set', name, 'up']);
    peerNetns.execOk('ip', ['link', 'set', peer, 'up']);
  }

  /** Set a sysctl of the namespace, e.g. `net.ipv4.conf.lo.accept_local` (through /proc/sys: no procps needed). */
  setSysctl(name: string, value: string | number): void {
    this.execOk('sh', ['-c', `echo "$1" > "/proc/sys/$2"`, 'sh', String(value), name.replaceAll('.', '/')]);
  }

  /** Stop every process started inside that is still running. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#processes].map((p) => p.stop()));
  }

  /** The namespace's /proc/net/snmp counters of one protocol, e.g. `Udp` → { InDatagrams: 3, InCsumErrors: 0, … }. */
  snmp(protocol: string): Record<string, number> {
    const lines = this.execOk('cat', ['/proc/net/snmp']).split('\n').filter((line) => line.startsWith(`${protocol}:`));
    const [names, values] = lines.map((line) => line.split(/\s+/).slice(1));
    if (!names || !values) throw new Error(`no ${protocol} counters in /proc/net/snmp of ${this.name}`);
    return Object.fromEntries(names.map((name, i) => [name, Number(values[i])]));
  }

  /** Whether a UDP socket listens on `port` (any address) inside. */
  udpListening(port: number): boolean {
    return this.execOk('ss', ['-Hlun', `sport = :${port}`]).trim().length > 0;
  }

  /** Poll `condition` every 20 ms for at most `timeoutMs`; throws naming `what` if it never holds. */
  async waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Stop the processes started inside, then remove the namespace. */
  async delete(): Promise<void> {
    await this.stopAll();
    this.deleteNow();
  }

  /** Synchronous removal (for process exit): SIGKILL what is still running, remove the namespace. */
  deleteNow(): void {
    for (const started of this.#processes) started.killNow();
    if (this.#deleted) return;
    this.#deleted = true;
    live.delete(this);
    runCommand('ip', ['netns', 'delete', this.name]);
  }
}

/** Names of the network namespaces that exist now (`ip netns list`). */
export function netnsNames(): string[] {
  return check(runCommand('ip', ['netns', 'list']), 'ip netns list')
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((name) => name.length > 0);
}
