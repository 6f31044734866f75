/**
 * Every command of the compiled CLI, given bad input, and run without
 * privileges; the cases are tables.
 *
 * Bad input (an invalid value for every flag, a missing file, a truncated
 * ELF object or pcap, an unknown program, a wrong interface): exit code 2
 * and one line on stderr (`bpfgen: ...`) naming the flag, file or name at
 * fault, nothing on stdout. Each case runs inside a namespace created here
 * and under strace: no bpf() call that creates, attaches or pins anything,
 * and afterwards nothing is attached in the namespace, nothing is pinned,
 * and the working directory holds exactly the fixtures it held before.
 *
 * Without privileges (nobody, no capabilities): every command that needs
 * the kernel says so in one line naming the capability it lacks (or root);
 * dump, asm, build and list need none and work.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeObject } from '../../src/asm/elf/writer.js';
import type { Command } from '../../src/cli/usage.js';
import { PROGRAMS } from '../../src/programs/index.js';
import { compiledCli, type CompiledCli } from '../cli/compiled-cli.js';
import { describeWithBpf, privateBpffs } from '../loader/support.js';
import { Netns } from '../support/netns.js';
import { inBatches, runCli, UNPRIVILEGED, type CliRun } from './support/cli-runs.js';
import { attachedIn } from './support/kernel-objects.js';
import { INVALID_VALUES } from './support/options.js';
import { LONG_RUN } from './support/scale.js';

/** The namespace's second interface, for tc-dns-redirect's --eth. */
const ETH = 'hceth0';
const REDIRECT = ['--resolver', '127.0.0.11:53', '--upstream', '198.51.100.53:53', '--container-ip', '192.0.2.2'];
const CLASSIC_PCAP_HEADER = Uint8Array.of(0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0);

/** How bpfgen gets a case wrong today: what it does instead (one line still, but this exit code and message). */
/** What is wrong with the input: the categories of the issue. */
type Fault = 'usage' | 'value' | 'file' | 'damaged-file' | 'program' | 'interface';

interface BadInput {
  readonly fault: Fault;
  readonly args: readonly string[];
  /** What the one line must say: the flag, file or name at fault and what is wrong with it. */
  readonly says: RegExp;
  /** Paths (in the working directory, or pin directories) that must not exist afterwards. */
  readonly leaves?: readonly string[];
}

/** `{pins}` in an argument is the private bpf filesystem mounted for this test. */
const BAD_INPUT: Readonly<Record<string, readonly BadInput[]>> = {
  dump: [
    { fault: 'usage', args: ['dump'], says: /^dump: expected one PROGRAM/ },
    { fault: 'program', args: ['dump', 'nosuch'], says: /unknown program 'nosuch'/ },
    { fault: 'usage', args: ['dump', 'xdp-dns-forward', 'extra'], says: /^dump: expected one PROGRAM/ },
    { fault: 'usage', args: ['dump', 'xdp-dns-forward', '--bogus'], says: /Unknown option '--bogus'/ },
    { fault: 'value', args: ['dump', 'xdp-dns-forward', '--format', 'bogus'], says: /^--format: 'bogus' is not one of/ },
    { fault: 'value', args: ['dump', 'xdp-dns-forward', '--dns-ip', '1.2.3'], says: /^--dns-ip: '1\.2\.3' is not an IPv4 address/ },
    { fault: 'value', args: ['dump', 'xdp-dns-forward', '--listen-port', '65536'], says: /^--listen-port: '65536' is not a port number/ },
    { fault: 'value', args: ['dump', 'xdp-dns-forward', '--dns-port', 'x'], says: /^--dns-port: 'x' is not a port number/ },
    { fault: 'value', args: ['dump', 'tc-dns-redirect-lo', '--resolver', '127.0.0.11'], says: /^--resolver: '127\.0\.0\.11' is not an IPv4 address and port/ },
    { fault: 'value', args: ['dump', 'tc-dns-redirect-lo', '--upstream', '198.51.100.53:0'], says: /^--upstream: '198\.51\.100\.53:0'/ },
    { fault: 'value', args: ['dump', 'tc-dns-redirect-lo', '--container-ip', ''], says: /^--container-ip: '' is not an IPv4 address/ },
    { fault: 'value', args: ['dump', 'tc-dns-redirect-lo', '--eth-ifindex', '0'], says: /^--eth-ifindex: '0' is not an interface index/ },
    { fault: 'value', args: ['dump', 'tc-dns-redirect-eth', '--lo-ifindex', '2147483648'], says: /^--lo-ifindex: '2147483648' is not an interface index/ },
    { fault: 'value', args: ['dump', 'socket-dns-filter', '--port', '-1'], says: /^dump: Option '--port' argument is ambiguous\. .*use '--port=-XYZ'/ },
    { fault: 'value', args: ['dump', 'xdp-dns-forward', '--xlated', '--listen-port', '0'], says: /^--listen-port: '0'/ },
    { fault: 'value', args: ['dump', 'xdp-dns-forward', '--xlated', '--format', 'json'], says: /^--xlated: .*not --format json/ },
    { fault: 'file', args: ['dump', '--words', 'missing.txt'], says: /^missing\.txt: no such file/ },
    { fault: 'damaged-file', args: ['dump', '--words', 'bad-words.txt'], says: /^bad-words\.txt:/ },
    { fault: 'damaged-file', args: ['dump', '--bin', 'odd.bin'], says: /^odd\.bin: .*7 bytes, not a multiple of 8/ },
    { fault: 'damaged-file', args: ['dump', '--asm', 'bad.s'], says: /^bad\.s:1:\d+: / },
    { fault: 'file', args: ['dump', '--asm', 'adir'], says: /^adir: is a directory/ },
    { fault: 'file', args: ['dump', '--object', 'missing.o'], says: /^missing\.o: no such file/ },
    { fault: 'damaged-file', args: ['dump', '--object', 'elf-7-bytes.o'], says: /^elf-7-bytes\.o: .*ELF header/ },
    { fault: 'damaged-file', args: ['dump', '--object', 'elf-header-only.o'], says: /^elf-header-only\.o: / },
    { fault: 'damaged-file', args: ['dump', '--object', 'elf-half.o'], says: /^elf-half\.o: / },
    { fault: 'value', args: ['dump', '--object', 'prog.o', '--section', 'nosuch'], says: /nosuch/ },
    { fault: 'usage', args: ['dump', '--section', 'xdp'], says: /^--section: selects a section of an --object FILE/ },
    { fault: 'usage', args: ['dump', 'xdp-dns-forward', '--source=yes'], says: /Option '--source' does not take an argument/ },
  ],
  build: [
    { fault: 'usage', args: ['build', 'xdp-dns-forward'], says: /^build: give the object to write with -o/ },
    { fault: 'program', args: ['build', 'nosuch', '-o', 'x.o'], says: /unknown program 'nosuch'/, leaves: ['x.o'] },
    { fault: 'value', args: ['build', 'xdp-dns-forward', '--dns-ip', '256.0.0.1', '-o', 'x.o'], says: /^--dns-ip: '256\.0\.0\.1'/, leaves: ['x.o'] },
    { fault: 'value', args: ['build', 'tc-dns-redirect-eth', '--lo-ifindex=-1', '-o', 'x.o'], says: /^--lo-ifindex: '-1'/, leaves: ['x.o'] },
    { fault: 'file', args: ['build', 'xdp-dns-forward', '-o', 'nodir/x.o'], says: /^nodir\/x\.o: cannot write: no such directory$/ },
    { fault: 'file', args: ['build', 'xdp-dns-forward', '--output', 'adir'], says: /^adir: cannot write: is a directory$/ },
    { fault: 'value', args: ['build', 'xdp-dns-forward', '--listen-port', '0', '-o', 'x.o'], says: /^--listen-port: '0'/, leaves: ['x.o'] },
    { fault: 'value', args: ['build', 'xdp-dns-forward', '--dns-port', '65536', '-o', 'x.o'], says: /^--dns-port: '65536'/, leaves: ['x.o'] },
    { fault: 'value', args: ['build', 'tc-dns-redirect-lo', '--resolver', '127.0.0.11:', '-o', 'x.o'], says: /^--resolver: '127\.0\.0\.11:'/, leaves: ['x.o'] },
    { fault: 'value', args: ['build', 'tc-dns-redirect-lo', '--upstream', ':53', '-o', 'x.o'], says: /^--upstream: ':53'/, leaves: ['x.o'] },
    { fault: 'value', args: ['build', 'tc-dns-redirect-lo', '--container-ip', '::1', '-o', 'x.o'], says: /^--container-ip: '::1'/, leaves: ['x.o'] },
    { fault: 'value', args: ['build', 'tc-dns-redirect-lo', '--eth-ifindex', '1.5', '-o', 'x.o'], says: /^--eth-ifindex: '1\.5'/, leaves: ['x.o'] },
    { fault: 'value', args: ['build', 'socket-dns-filter', '--port', '0x35', '-o', 'x.o'], says: /^--port: '0x35'/, leaves: ['x.o'] },
    { fault: 'usage', args: ['build', 'xdp-dns-forward', 'socket-dns-filter', '-o', 'x.o'], says: /^build: expected one PROGRAM/, leaves: ['x.o'] },
  ],
  asm: [
    { fault: 'usage', args: ['asm'], says: /^asm: expected exactly one FILE/ },
    { fault: 'file', args: ['asm', 'missing.s'], says: /^missing\.s: no such file/ },
    { fault: 'damaged-file', args: ['asm', 'bad.s', '-o', 'out.txt'], says: /^bad\.s:1:\d+: /, leaves: ['out.txt'] },
    { fault: 'value', args: ['asm', 'ok.s', '--format', 'bogus'], says: /^--format: 'bogus' is not one of words, hex, bin/ },
    { fault: 'value', args: ['asm', 'ok.s', '--syntax', 'bogus'], says: /^--syntax: 'bogus' is not one of/ },
    { fault: 'value', args: ['asm', 'ok.s', '--syntax', 'ubpf'], says: /^ok\.s:1:1: unknown mnemonic/ },
    { fault: 'file', args: ['asm', 'ok.s', '-o', 'nodir/out.txt'], says: /^nodir\/out\.txt: cannot write: no such directory$/ },
  ],
  list: [
    { fault: 'usage', args: ['list', 'extra'], says: /^list: Unexpected argument 'extra'/ },
    { fault: 'usage', args: ['list', '--bogus'], says: /^list: Unknown option '--bogus'/ },
  ],
  'test-run': [
    { fault: 'usage', args: ['test-run', '--packet-preset', 'dns-query'], says: /^test-run: expected one PROGRAM/ },
    { fault: 'program', args: ['test-run', 'nosuch', '--packet-preset', 'dns-query'], says: /unknown program 'nosuch'/ },
    { fault: 'usage', args: ['test-run', 'xdp-dns-forward'], says: /^test-run: give the packet with --packet HEX, --pcap FILE or --packet-preset NAME/ },
    { fault: 'value', args: ['test-run', 'xdp-dns-forward', '--packet', 'zz'], says: /^--packet: 'z' at character 1 is not a hex digit/ },
    { fault: 'value', args: ['test-run', 'xdp-dns-forward', '--packet', '00'], says: /^--packet: .*shorter than the 14-byte Ethernet header/ },
    { fault: 'usage', args: ['test-run', 'xdp-dns-forward', '--packet', '00', '--packet-preset', 'dns-query'], says: /^test-run: give only one of/ },
    { fault: 'value', args: ['test-run', 'xdp-dns-forward', '--packet-preset', 'nosuch'], says: /^--packet-preset: 'nosuch' is not one of/ },
    { fault: 'file', args: ['test-run', 'xdp-dns-forward', '--pcap', 'missing.pcap'], says: /^--pcap missing\.pcap: no such file/ },
    { fault: 'damaged-file', args: ['test-run', 'xdp-dns-forward', '--pcap', 'junk.pcap'], says: /^--pcap junk\.pcap: not a pcap file/ },
    { fault: 'damaged-file', args: ['test-run', 'xdp-dns-forward', '--pcap', 'cut-record.pcap'], says: /^--pcap cut-record\.pcap: / },
    { fault: 'damaged-file', args: ['test-run', 'xdp-dns-forward', '--pcap', 'cut-record.pcap', '--index', '0'], says: /^--index: 0 is out of range|^--pcap cut-record\.pcap: / },
    { fault: 'usage', args: ['test-run', 'xdp-dns-forward', '--packet-preset', 'dns-query', '--index', '2'], says: /^--index: only meaningful with --pcap FILE/ },
    { fault: 'value', args: ['test-run', 'xdp-dns-forward', '--packet-preset', 'dns-query', '--repeat', '0'], says: /^--repeat: 0 is out of range/ },
    { fault: 'value', args: ['test-run', 'xdp-dns-forward', '--packet-preset', 'dns-query', '--repeat', 'x'], says: /^--repeat: 'x' is not a non-negative integer/ },
    { fault: 'value', args: ['test-run', 'xdp-dns-forward', '--packet-preset', 'dns-query', '--dns-ip', '999.1.1.1'], says: /^--dns-ip: '999\.1\.1\.1'/ },
    { fault: 'value', args: ['test-run', 'xdp-dns-forward', '--packet-preset', 'dns-query', '--listen-port', '1e3'], says: /^--listen-port: '1e3'/ },
    { fault: 'value', args: ['test-run', 'xdp-dns-forward', '--packet-preset', 'dns-query', '--dns-port', ''], says: /^--dns-port: ''/ },
    { fault: 'value', args: ['test-run', 'tc-dns-redirect-lo', '--packet-preset', 'dns-query', '--resolver', '1.2.3.4:53:1'], says: /^--resolver: '1\.2\.3\.4:53:1'/ },
    { fault: 'value', args: ['test-run', 'tc-dns-redirect-lo', '--packet-preset', 'dns-query', '--upstream', '[::1]:53'], says: /^--upstream: '\[::1\]:53'/ },
    { fault: 'value', args: ['test-run', 'tc-dns-redirect-eth', '--packet-preset', 'dns-reply', '--container-ip', 'localhost'], says: /^--container-ip: 'localhost'/ },
    { fault: 'value', args: ['test-run', 'tc-dns-redirect-lo', '--packet-preset', 'dns-query', '--eth-ifindex', '2147483648'], says: /^--eth-ifindex: '2147483648'/ },
    { fault: 'value', args: ['test-run', 'tc-dns-redirect-eth', '--packet-preset', 'dns-reply', '--lo-ifindex', 'lo'], says: /^--lo-ifindex: 'lo'/ },
    { fault: 'value', args: ['test-run', 'socket-dns-filter', '--packet-preset', 'dns-query', '--port', '0'], says: /^--port: '0'/ },
    { fault: 'usage', args: ['test-run', 'xdp-dns-forward', '--packet-preset', 'dns-query', '--json=1'], says: /Option '--json' does not take an argument/ },
  ],
  probe: [
    { fault: 'usage', args: ['probe', 'extra'], says: /^probe: Unexpected argument 'extra'/ },
    { fault: 'usage', args: ['probe', '--bogus'], says: /^probe: Unknown option '--bogus'/ },
    { fault: 'value', args: ['probe', '--program-type', 'bogus'], says: /^--program-type: 'bogus' is not a program type/ },
    { fault: 'usage', args: ['probe', '--json=1'], says: /Option '--json' does not take an argument/ },
    { fault: 'usage', args: ['probe', '--helpers=1'], says: /Option '--helpers' does not take an argument/ },
    { fault: 'usage', args: ['probe', '--full=1'], says: /Option '--full' does not take an argument/ },
  ],
  attach: [
    { fault: 'usage', args: ['attach'], says: /^attach: expected one PROGRAM/ },
    { fault: 'program', args: ['attach', 'nosuch'], says: /^attach: unknown program 'nosuch'/ },
    { fault: 'program', args: ['attach', 'socket-dns-filter'], says: /^attach: socket-dns-filter cannot be attached/ },
    { fault: 'value', args: ['attach', 'xdp-dns-forward', '--iface', 'a/b'], says: /^--iface: 'a\/b' is not an interface name/ },
    {
      fault: 'interface',
      args: ['attach', 'xdp-dns-forward', '--iface', 'nosuch0'],
      says: /^--iface: no network interface named nosuch0/,
    },
    { fault: 'value', args: ['attach', 'xdp-dns-forward', '--mode', 'bogus'], says: /^--mode: 'bogus' is not one of generic, native, offload/ },
    { fault: 'value', args: ['attach', 'xdp-dns-forward', '--attach', 'bogus'], says: /^--attach: 'bogus' is not one of/ },
    { fault: 'value', args: ['attach', 'xdp-dns-forward', '--config', 'bogus'], says: /^--config: 'bogus' is not one of inline, map/ },
    { fault: 'usage', args: ['attach', 'xdp-dns-forward', '--replace=yes'], says: /Option '--replace' does not take an argument/ },
    { fault: 'value', args: ['attach', 'xdp-dns-forward', '--dns-ip', '1.2.3.4.5'], says: /^--dns-ip: '1\.2\.3\.4\.5'/ },
    { fault: 'value', args: ['attach', 'xdp-dns-forward', '--listen-port', '0'], says: /^--listen-port: '0'/ },
    { fault: 'value', args: ['attach', 'xdp-dns-forward', '--dns-port', '70000'], says: /^--dns-port: '70000'/ },
    { fault: 'usage', args: ['attach', 'xdp-dns-forward', '--pin', ''], says: /^attach: --pin needs a directory/ },
    { fault: 'value', args: ['attach', 'xdp-dns-forward', '--dns-ip', '1.2.3', '--pin', '{pins}/never'], says: /^--dns-ip: '1\.2\.3'/, leaves: ['{pins}/never'] },
    {
      fault: 'file',
      args: ['attach', 'xdp-dns-forward', '--pin', 'not-bpffs'],
      says: /not-bpffs: not on a bpf filesystem/,
      leaves: ['not-bpffs'],
    },
    { fault: 'usage', args: ['attach', 'tc-dns-redirect', '--eth', ETH], says: /^--resolver: required/ },
    { fault: 'interface', args: ['attach', 'tc-dns-redirect', ...REDIRECT, '--eth', 'nosuch0'], says: /^--eth: no network interface named nosuch0/ },
    { fault: 'interface', args: ['attach', 'tc-dns-redirect', ...REDIRECT, '--eth', ETH, '--lo', 'nosuch0'], says: /^--lo: no network interface named nosuch0/ },
    { fault: 'value', args: ['attach', 'tc-dns-redirect', ...REDIRECT, '--eth', ETH, '--lo', 'a/b'], says: /^--lo: 'a\/b' is not an interface name/ },
    { fault: 'value', args: ['attach', 'tc-dns-redirect', ...REDIRECT, '--eth', ETH, '--attach', 'link'], says: /^--attach: 'link' is not one of/ },
    { fault: 'value', args: ['attach', 'tc-dns-redirect', '--resolver', '127.0.0.11:99999', '--upstream', '198.51.100.53:53', '--container-ip', '192.0.2.2', '--eth', ETH], says: /^--resolver: '127\.0\.0\.11:99999'/ },
    { fault: 'value', args: ['attach', 'tc-dns-redirect', '--resolver', '127.0.0.11:53', '--upstream', 'x:53', '--container-ip', '192.0.2.2', '--eth', ETH], says: /^--upstream: 'x:53'/ },
    { fault: 'value', args: ['attach', 'tc-dns-redirect', '--resolver', '127.0.0.11:53', '--upstream', '198.51.100.53:53', '--container-ip', '192.0.2', '--eth', ETH], says: /^--container-ip: '192\.0\.2'/ },
    { fault: 'usage', args: ['attach', 'tc-dns-redirect', ...REDIRECT, '--eth', ETH, '--set-route-localnet=1'], says: /Option '--set-route-localnet' does not take an argument/ },
  ],
  detach: [
    { fault: 'usage', args: ['detach'], says: /^detach: give exactly one of --pin DIR and --iface IFACE/ },
    { fault: 'usage', args: ['detach', '--pin', 'x', '--iface', 'lo'], says: /^detach: give exactly one of --pin DIR and --iface IFACE/ },
    { fault: 'usage', args: ['detach', 'extra'], says: /^detach: Unexpected argument 'extra'/ },
    { fault: 'file', args: ['detach', '--pin', '{pins}/missing'], says: /missing: no such directory/ },
    { fault: 'file', args: ['detach', '--pin', 'adir'], says: /adir: not on a bpf filesystem/ },
    { fault: 'interface', args: ['detach', '--iface', 'nosuch0'], says: /^--iface: no network interface named nosuch0/ },
  ],
  demo: [
    { fault: 'usage', args: ['demo', 'extra'], says: /^demo: Unexpected argument 'extra'/ },
    { fault: 'value', args: ['demo', '--config', 'bogus'], says: /^--config: 'bogus' is not one of inline, map/ },
    { fault: 'value', args: ['demo', '--attach', 'bogus'], says: /^--attach: 'bogus' is not one of/ },
  ],
  capture: [
    { fault: 'usage', args: ['capture'], says: /^capture: --iface IF is required/ },
    { fault: 'interface', args: ['capture', '--iface', 'nosuch0'], says: /^--iface: no network interface named 'nosuch0'/ },
    { fault: 'value', args: ['capture', '--iface', 'lo', '--count', '0'], says: /^--count: 0 is out of range/ },
    { fault: 'value', args: ['capture', '--iface', 'lo', '--count', 'many'], says: /^--count: 'many' is not a non-negative integer/ },
    { fault: 'value', args: ['capture', '--iface', 'lo', '--port', '0'], says: /^--port: '0' is not a port number/ },
    { fault: 'usage', args: ['capture', '--iface', 'lo', '--json=1'], says: /Option '--json' does not take an argument/ },
    { fault: 'usage', args: ['capture', '--iface', 'lo', 'extra'], says: /^capture: Unexpected argument 'extra'/ },
  ],
};

/**
 * The commands that build a program take every program's options: with
 * BPFGEN_LONG=1 each option of each program also gets a bad value through
 * each of them (the table above gives each flag one).
 */
const PROGRAM_OPTION_ROWS: (BadInput & { command: string })[] = ['dump', 'build', 'test-run'].flatMap((command) =>
  Object.values(PROGRAMS).flatMap((program) =>
    program.options.map((option) => {
      const bad = INVALID_VALUES[option.kind].find((value) => typeof value === 'string' && value !== '') as string;
      const rest = command === 'build' ? ['-o', 'x.o'] : command === 'test-run' ? ['--packet-preset', 'dns-query'] : [];
      return { command, fault: 'value' as const, args: [command, program.name, option.flag, bad, ...rest], says: new RegExp(`^${option.flag}: '${escapeRegExp(bad)}'`), leaves: ['x.o'] };
    }),
  ),
);

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const TABLE_ROWS = Object.entries(BAD_INPUT).flatMap(([command, rows]) => rows.map((row) => ({ command, ...row })));

/**
 * What runs: the whole table and the option matrix with BPFGEN_LONG=1; by
 * default the first row of each fault of each command (each run is a node
 * process, about half a second of CPU).
 */
const BAD_INPUT_ROWS = LONG_RUN
  ? [...TABLE_ROWS, ...PROGRAM_OPTION_ROWS]
  : TABLE_ROWS.filter((row, i) => TABLE_ROWS.findIndex((other) => other.command === row.command && other.fault === row.fault) === i);

/** The flags a command's --help describes: those that start an option line. */
function helpFlags(help: string): string[] {
  return [...new Set([...help.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]!))].filter((flag) => flag !== '--help');
}

/** The --help text of every command module in src/cli/commands, by command name. */
async function commandHelps(): Promise<Map<string, string>> {
  const dir = join(import.meta.dirname, '..', '..', 'src', 'cli', 'commands');
  const helps = new Map<string, string>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.ts'))) {
    for (const value of Object.values((await import(join(dir, file))) as Record<string, unknown>)) {
      const command = value as Partial<Command>;
      if (typeof command.name === 'string' && typeof command.help === 'string' && typeof command.run === 'function') helps.set(command.name, command.help);
    }
  }
  return helps;
}

interface Privileged {
  readonly args: readonly string[];
  /** The exit code the command documents for "cannot ask the kernel". */
  readonly status: number;
  /** What root attaches and pins first (into {pins}/held), so that there is something to detach. */
  readonly heldBy?: readonly string[];
}

/** Commands run as nobody that need the kernel: one line naming what is missing. */
const NEEDS_PRIVILEGES: readonly Privileged[] = [
  { args: ['dump', 'xdp-dns-forward', '--xlated'], status: 1 },
  { args: ['test-run', 'socket-dns-filter', '--packet-preset', 'dns-query'], status: 1 },
  { args: ['test-run', 'tc-dns-redirect-eth', '--packet-preset', 'dns-reply'], status: 1 },
  { args: ['probe'], status: 2 },
  { args: ['attach', 'xdp-dns-forward', '--iface', 'lo'], status: 1 },
  { args: ['attach', 'tc-dns-redirect', ...REDIRECT, '--eth', ETH], status: 1 },
  { args: ['capture', '--iface', 'lo', '--count', '1'], status: 1 },
  { args: ['demo'], status: 1 },
  {
    args: ['detach', '--iface', 'lo'],
    status: 1,
    heldBy: ['attach', 'xdp-dns-forward', '--iface', 'lo', '--attach', 'netlink', '--pin', '{pins}/held'],
  },
  {
    args: ['detach', '--pin', '{pins}/held'],
    status: 1,
    heldBy: ['attach', 'xdp-dns-forward', '--iface', ETH, '--pin', '{pins}/held'],
  },
];

/** Commands that need no privileges, with what their output must show. */
const WORKS_UNPRIVILEGED: readonly { readonly args: readonly string[]; readonly prints: RegExp }[] = [
  { args: ['dump', 'xdp-dns-forward'], prints: /\bexit\b/ },
  { args: ['dump', 'tc-dns-redirect-lo', '--format', 'bpftool'], prints: /call bpf_redirect_neigh/ },
  { args: ['dump', '--object', 'prog.o'], prints: /\bexit\b/ },
  { args: ['asm', 'ok.s'], prints: /^0x00000001000000b7$/m },
  { args: ['build', 'socket-dns-filter', '-o', '-'], prints: /^\x7fELF/ },
  { args: ['list'], prints: /xdp-dns-forward/ },
];

describeWithBpf('the CLI on bad input and without privileges', () => {
  let cli: CompiledCli;
  let netns: Netns;
  let pins: { dir: string; dispose(): void };
  let work: string;
  let fixtures: string[];
  /** What a fresh bpf filesystem holds (maps.debug and progs.debug where bpf_preload is built in). */
  let bpffsBaseline: string[];
  const inNetns = () => ['ip', 'netns', 'exec', netns.name];
  const expand = (arg: string) => arg.replace('{pins}', pins.dir);

  beforeAll(() => {
    cli = compiledCli();
    netns = Netns.create('hardcli');
    netns.addVeth(ETH, 'hceth1');
    netns.execOk('sysctl', ['-qw', 'net.ipv4.conf.lo.route_localnet=1']);
    pins = privateBpffs();
    bpffsBaseline = readdirSync(pins.dir).sort();
    work = mkdtempSync(join(tmpdir(), `bpfgen-hardcli-${process.pid}-`));
    const object = writeObject([PROGRAMS['xdp-dns-forward']!.build()]);
    const files: Record<string, Uint8Array | string> = {
      'ok.s': 'r0 = 0x1\nexit\n',
      'bad.s': 'r0 = \n',
      'bad-words.txt': '0x00000001000000b7\nnot a word\n',
      'odd.bin': new Uint8Array(7),
      'prog.o': object,
      'elf-7-bytes.o': object.subarray(0, 7),
      'elf-header-only.o': object.subarray(0, 64),
      'elf-half.o': object.subarray(0, object.byteLength >> 1),
      'junk.pcap': Uint8Array.from({ length: 100 }, (_, i) => (i * 151 + 7) & 0xff),
      // A global header, then a record header that claims more bytes than follow.
      'cut-record.pcap': Uint8Array.of(...CLASSIC_PCAP_HEADER, 0, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 1, 2, 3),
    };
    for (const [name, content] of Object.entries(files)) writeFileSync(join(work, name), content, { mode: 0o644 });
    mkdirSync(join(work, 'adir'));
    chmodSync(work, 0o755);
    fixtures = readdirSync(work).sort();
  }, 180_000);

  afterAll(async () => {
    rmSync(work, { recursive: true, force: true });
    pins?.dispose();
    await netns?.delete();
    cli?.dispose();
  });

  /** Nothing attached in the namespace, nothing pinned, no file made or removed. */
  function expectNothingLeft(): void {
    expect(attachedIn(netns)).toEqual([]);
    expect(readdirSync(pins.dir).sort()).toEqual(bpffsBaseline);
    expect(readdirSync(work).sort()).toEqual(fixtures);
  }

  describe('bad input: exit code 2, one line, nothing created, attached or left behind', () => {
    it('the table gives every command, and every flag its --help lists, a bad value', async () => {
      const overview = await runCli(cli, ['--help'], { cwd: work });
      const commands = [...overview.stdout.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]!);
      expect(commands.length).toBeGreaterThanOrEqual(10);
      expect(Object.keys(BAD_INPUT).sort()).toEqual([...commands].sort());
      const helps = await commandHelps();
      for (const command of commands) {
        const tested = new Set(TABLE_ROWS.filter((row) => row.command === command).flatMap((row) => row.args.map((arg) => arg.split('=')[0]!)));
        const untested = helpFlags(helps.get(command) ?? '').filter((flag) => !tested.has(flag));
        expect(helps.has(command), `${command} has a module in src/cli/commands`).toBe(true);
        expect(untested, `${command} flags without a bad-input case`).toEqual([]);
      }
    });

    let results: Map<BadInput, CliRun>;
    beforeAll(async () => {
      const runs = await inBatches(BAD_INPUT_ROWS, 4, (row) =>
        runCli(cli, row.args.map(expand), { prefix: inNetns(), cwd: work, traceIn: { dir: tmpdir(), name: `bpfgen-hardcli-${process.pid}-${BAD_INPUT_ROWS.indexOf(row)}` } }),
      );
      results = new Map(BAD_INPUT_ROWS.map((row, i) => [row, runs[i]!]));
    }, 300_000);

    for (const row of BAD_INPUT_ROWS) {
      const name = `${row.command}: bpfgen ${row.args.map((arg) => (arg === '' ? "''" : arg)).join(' ')}`;
      it(name, () => {
        const run = results.get(row)!;
        expect(run.creatingCalls, 'bpf() calls that create, attach or pin').toHaveLength(0);
        expect({ status: run.status, stdout: run.stdout }).toEqual({ status: 2, stdout: '' });
        const lines = run.stderr.trimEnd().split('\n');
        expect(lines, run.stderr).toHaveLength(1);
        expect(lines[0]!.replace(/^bpfgen: /, '')).toMatch(row.says);
        for (const path of row.leaves ?? []) expect(existsSync(resolve(work, expand(path))), `${path} exists`).toBe(false);
      });
    }

    it('left nothing attached, pinned or written after all of them', () => {
      expectNothingLeft();
    });
  });

  describe('without privileges', () => {
    const asNobody = () => [...inNetns(), ...UNPRIVILEGED];

    for (const { args, prints } of WORKS_UNPRIVILEGED) {
      it.concurrent(`bpfgen ${args.join(' ')} needs no privileges`, async () => {
        const run = await runCli(cli, args, { prefix: asNobody(), cwd: work });
        expect(run.stderr).toBe('');
        expect(run.status).toBe(0);
        expect(run.stdout).toMatch(prints);
      });
    }

    for (const row of NEEDS_PRIVILEGES) {
      // Rows that hold something share the pin directory {pins}/held, so they run one at a time.
      const test = row.heldBy ? it : it.concurrent;
      test(`bpfgen ${row.args.join(' ')}: one line naming what is missing`, async () => {
        try {
          if (row.heldBy) {
            const held = await runCli(cli, row.heldBy.map(expand), { prefix: inNetns(), cwd: work });
            expect(held.status, held.stderr).toBe(0);
          }
          const run = await runCli(cli, row.args.map(expand), { prefix: asNobody(), cwd: work });
          expect(run.status).toBe(row.status);
          const lines = run.stderr.trimEnd().split('\n');
          expect(lines, run.stderr).toHaveLength(1);
          expect(lines[0]).toMatch(/^bpfgen:? .*(\bCAP_[A-Z_]+\b|\broot\b)/);
        } finally {
          if (readdirSync(pins.dir).includes('held')) {
            const detached = await runCli(cli, ['detach', '--pin', `${pins.dir}/held`], { prefix: inNetns(), cwd: work });
            expect(detached.status, detached.stderr).toBe(0);
          }
        }
      });
    }

    it('left nothing attached, pinned or written', () => {
      expectNothingLeft();
    });
  });
});
