import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode } from '../../src/asm/instruction.js';
import { parseWords } from '../../src/asm/text/words.js';
import { compiledCli, type CompiledCli } from './compiled-cli.js';

/** The CLI contract of the pure commands: they need no privileges, bad input is one line and exit 2. */
describe('bpfgen asm / dump / list', () => {
  let cli: CompiledCli;
  let dir: string;
  beforeAll(() => {
    cli = compiledCli();
    dir = mkdtempSync(join(tmpdir(), 'bpfgen-cli-files-'));
  });
  afterAll(() => {
    cli.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('dumps xdp-dns-forward with its instruction count, and the dump assembles back to the same words', () => {
    const dump = cli.run(['dump', 'xdp-dns-forward']);
    expect(dump.status).toBe(0);
    const count = Number(/(\d+) instructions/.exec(dump.stdout)?.[1]);
    expect(count).toBeGreaterThan(10);
    expect(count).toBeLessThan(74);
    const words = cli.run(['dump', 'xdp-dns-forward', '--format', 'words']).stdout;
    const reassembled = cli.run(['asm', file('fwd.s', dump.stdout)]);
    expect(reassembled.status).toBe(0);
    expect(reassembled.stdout).toBe(words);
    expect(decode(parseWords(words, 'words'))).toHaveLength(count);
  });

  it('inlines the options as network-order immediates', () => {
    const out = cli.run(['dump', 'xdp-dns-forward', '--listen-port', '5054', '--dns-ip', '192.0.2.1']).stdout;
    expect(out).toContain(`0x${(0xbe13).toString(16)}`); // htons(5054) as the CPU reads it: 0x13be -> 0xbe13
    expect(out).toContain('0x10200c0'); // 192.0.2.1 in network order read as a little-endian u32
  });

  it('stops quietly when the reader closes the pipe early', () => {
    const out = spawnSync('sh', ['-c', `"${process.execPath}" "${join(cli.dir, 'dist', 'cli', 'main.js')}" dump xdp-dns-forward | head -1`], { encoding: 'utf8', timeout: 60_000 });
    expect(out.stdout).toMatch(/^; xdp_dns_fwd: xdp program, \d+ instructions/);
    expect(out.stderr).toBe('');
  });

  it('shows DSL call sites with --source', () => {
    expect(cli.run(['dump', 'xdp-dns-forward', '--source']).stdout).toMatch(/; .*xdp-dns-forward\.ts:\d+/);
  });

  it('reads words from stdin-like files and prints every format', () => {
    const words = file('w.txt', '0x00000002000000b7\n0x0000000000000095\n');
    for (const format of ['llvm', 'bpftool', 'ubpf', 'json', 'hex', 'words']) {
      const out = cli.run(['dump', '--words', words, '--format', format]);
      expect(out.status, format).toBe(0);
    }
    expect(cli.run(['dump', '--words', words]).stdout).toContain('r0 = 0x2');
  });

  it('has --help with examples on every command', () => {
    for (const command of ['dump', 'asm', 'list', 'test-run', 'probe']) {
      const out = cli.run([command, '--help']);
      expect(out.status, command).toBe(0);
      expect(out.stdout, command).toMatch(/Usage: bpfgen/);
      expect(out.stdout, command).toMatch(/Example/);
    }
  });

  // Each bad input: exit 2, exactly one line on stderr naming the culprit, nothing on stdout.
  const badInputs: [string, () => string[], RegExp][] = [
    ['unknown command', () => ['frobnicate'], /unknown command 'frobnicate'/],
    ['unknown program', () => ['dump', 'nope'], /unknown program 'nope'/],
    ['inherited property name as program', () => ['dump', 'constructor'], /unknown program 'constructor'/],
    ['bad IP', () => ['dump', 'xdp-dns-forward', '--dns-ip', '1.2.3'], /--dns-ip: '1\.2\.3' is not an IPv4 address/],
    ['port 0', () => ['dump', 'xdp-dns-forward', '--listen-port', '0'], /--listen-port: '0' is not a port/],
    ['port 65536', () => ['dump', 'xdp-dns-forward', '--dns-port', '65536'], /--dns-port: '65536' is not a port/],
    ['unknown flag', () => ['dump', 'xdp-dns-forward', '--bogus'], /Unknown option '--bogus'/],
    ['bad format', () => ['dump', 'xdp-dns-forward', '--format', 'pdf'], /--format: 'pdf' is not one of/],
    ['missing file', () => ['asm', join(dir, 'missing.s')], /missing\.s: no such file/],
    ['syntax error with line', () => ['asm', file('bad.s', 'mov %r0, 1\nldxq %r0, %r1\nexit\n')], /bad\.s:2(:\d+)?: .*ldxq/],
    ['bad word with line', () => ['dump', '--words', file('bad.words', '0x95\nzzz\n')], /bad\.words:2: expected one 64-bit word/],
    ['invalid encoding', () => ['dump', '--words', file('enc.words', '0x0000000000000195\n')], /enc\.words: instruction 0: invalid dst/],
    ['two inputs', () => ['dump', '--words', 'a', '--bin', 'b'], /only one of --words, --bin, --asm/],
  ];
  it.each(badInputs)('%s', (_name, args, message) => {
    const out = cli.run(args());
    expect(out.status).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(message);
    expect(out.stderr).not.toMatch(/^\s+at /m);
  });
});
