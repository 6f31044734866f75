/**
 * What the netlink tests need: a network namespace of their own, and a way
 * to run the library inside it. Netlink sockets and interface names belong
 * to the namespace of the process, so each step runs as a child process
 * (`ip netns exec NS node`) that imports the library compiled from src and
 * prints its result as JSON. Netlink attachments outlive the child, so
 * later steps and `ip`, `tc` and `bpftool` in the same namespace see them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { CompiledCli } from '../cli/compiled-cli.js';

/** Available to every script: the library as `bpfgen`, and helpers that build, load and probe. */
const PRELUDE = `
// The loader and the assembler rather than the whole package: each script is a new process, and under emulation the smaller import saves seconds.
import * as loader from '%DIST%/loader/index.js';
import * as asm from '%DIST%/asm/index.js';
const bpfgen = { ...asm, ...loader };
import { createSocket } from 'node:dgram';
import { readdirSync } from 'node:fs';
const { ProgramBuilder, loadProgram, codecs, r0, r1, r2, r10 } = bpfgen;
const fdCount = () => readdirSync('/proc/self/fd').length;
/** A program that only returns \`verdict\`. */
function returning(name, type, verdict) {
  const b = new ProgramBuilder({ name, type, license: 'GPL' });
  b.ret(verdict);
  return loadProgram(b.assemble());
}
/** A tc program that counts packets in hits[0] and returns \`verdict\`. */
function counting(name, verdict) {
  const b = new ProgramBuilder({ name, type: 'sched_cls', license: 'GPL', maps: [{ name: 'hits', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 }] });
  b.st('u32', r10, -4, 0);
  b.mov(r2, r10);
  b.add(r2, -4);
  b.ldMap(r1, 'hits');
  b.call('map_lookup_elem', r1, r2);
  b.jeq(r0, 0, 'out');
  b.mov(r1, 1);
  b.atomic('add', 'u64', r0, 0, r1);
  b.label('out');
  b.ret(verdict);
  return loadProgram(b.assemble());
}
const hits = (program) => Number(program.map('hits', codecs.u32, codecs.u64).get(0));
/** How many of \`count\` UDP datagrams 127.0.0.1 sends itself arrive (within a second): each crosses lo out and in once. */
function loopback(count) {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    let received = 0;
    const finish = (error) => { clearTimeout(timer); socket.close(); error ? reject(error) : resolve(received); };
    const timer = setTimeout(finish, 1000);
    socket.on('error', finish);
    socket.on('message', () => { if (++received === count) finish(); });
    socket.bind(0, '127.0.0.1', () => { for (let i = 0; i < count; i++) socket.send('bpfgen', socket.address().port, '127.0.0.1'); });
  });
}
`;

/** The error a script threw, with its name and message. */
export class ScriptError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

export class TestNetns {
  readonly name: string;

  /** `library`: the package compiled by compiledCli(), which the scripts import. */
  constructor(
    tag: string,
    private readonly library: CompiledCli,
  ) {
    this.name = `bpfgen-nl-${process.pid}-${tag}`;
    execFileSync('ip', ['netns', 'add', this.name], { timeout: 10_000 });
    this.exec('ip', 'link', 'set', 'lo', 'up');
  }

  /** Run a command in the namespace; its stdout. */
  exec(command: string, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.name, command, ...args], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Run a command that prints JSON (`ip -j`, `tc -j`, `bpftool -j`) in the namespace. */
  json<T = unknown>(command: string, ...args: string[]): T {
    return JSON.parse(this.exec(command, ...args)) as T;
  }

  /**
   * Run the body of an async function in node in the namespace; what it
   * returns comes back through JSON, what it throws as a ScriptError.
   */
  run<T = unknown>(body: string): T {
    const dist = pathToFileURL(join(this.library.dir, 'dist')).href;
    const script = `${PRELUDE.replaceAll('%DIST%', dist)}
try {
  const result = await (async () => { ${body} })();
  process.stdout.write(JSON.stringify({ result: result ?? null }));
} catch (error) {
  process.stdout.write(JSON.stringify({ error: { name: error?.name ?? 'Error', message: error?.message ?? String(error) } }));
}`;
    const child = spawnSync('ip', ['netns', 'exec', this.name, process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    if (child.error) throw child.error;
    if (child.status !== 0) throw new Error(`the script in ${this.name} exited with ${child.status}: ${child.stderr}`);
    const output = JSON.parse(child.stdout) as { result: T } | { error: { name: string; message: string } };
    if ('error' in output) throw new ScriptError(output.error.name, output.error.message);
    return output.result;
  }

  dispose(): void {
    execFileSync('ip', ['netns', 'delete', this.name], { timeout: 10_000 });
  }
}
