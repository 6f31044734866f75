/**
 * Which test files the matrix runs, in this one place.
 *
 * A test file needs the kernel when it declares its tests with
 * describeWithBpf (test/loader/support.ts), the suite's marker for tests
 * that need root and bpf(); the pure tests do not depend on the kernel. The
 * matrix runs every such file on every kernel, new ones included, except
 * those listed in HOST_ONLY: they check the CLI's input handling and output,
 * sweeps and benchmark references rather than what differs between kernels,
 * and under emulation each costs minutes, which the 30-minute budget of the
 * matrix cannot pay. `npm test` runs them on the host, and `--all` runs them
 * in the matrix too.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './paths.js';
import { StepError } from './process.js';

const KERNEL_TEST_MARKER = /\bdescribeWithBpf\(/;

/** File → why the matrix leaves it to the host (guest times measured under TCG on a 2-core machine). */
const HOST_ONLY: Readonly<Record<string, string>> = {
  'test/hardening/cli-errors.test.ts': 'the CLI on bad input and without privileges, ~100 CLI runs: 7.7 min per guest',
  'test/hardening/crash-safety.test.ts': 'the CLI killed at random moments, dozens of CLI runs',
  'test/hardening/leaks.test.ts': '300 load/attach/detach cycles counting descriptors',
  'test/hardening/config-sweep.test.ts': '1,000 random configurations of every program',
  'test/hardening/packet-fuzz.test.ts': '5,000 random frames per program',
  'test/cli/probe.test.ts': 'the output of bpfgen probe, each run probing the whole kernel; probes.test.ts checks the probes themselves',
  'test/cli/test-run.test.ts': 'the output of bpfgen test-run, a CLI run per case',
  'test/cli/dump-xlated.test.ts': 'the output of bpfgen dump --xlated, a CLI run per case',
  'test/dns-forward/cli.test.ts': 'bpfgen attach/detach/demo as processes; library.test.ts covers the same attachments in the kernel',
  'test/dns-capture/capture-cli.test.ts': 'bpfgen capture as a process; packet-socket.test.ts covers captureDns on live DNS traffic in the kernel',
  'test/dns-redirect/scenario-cli.test.ts': 'bpfgen attach/detach tc-dns-redirect as processes; scenario.test.ts covers the same attachments through the library, and the foreground command',
  'test/dns-forward/checksums.test.ts': "the receiving stack's checksum checks over every rewrite direction and mode",
  'test/bench-references.test.ts': "the benchmark's clang-built C references",
  'test/support/packets.test.ts': "the tests' own packet builder",
};

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/**
 * The matrix's test files, relative to the repository and sorted: the kernel
 * test files, without HOST_ONLY unless `all`; `filters` (substrings of the
 * path) narrow them.
 */
export function matrixTestFiles(filters: readonly string[], all: boolean): string[] {
  for (const file of Object.keys(HOST_ONLY)) {
    if (!existsSync(join(REPO_ROOT, file))) throw new StepError(`vm-tests/select.ts leaves ${file} to the host, but there is no such file; update HOST_ONLY`);
  }
  const candidates = testFiles(join(REPO_ROOT, 'test'))
    .filter((path) => KERNEL_TEST_MARKER.test(readFileSync(path, 'utf8')))
    .map((path) => relative(REPO_ROOT, path))
    .filter((file) => all || !(file in HOST_ONLY))
    .sort();
  if (filters.length === 0) return candidates;
  for (const filter of filters) {
    if (!candidates.some((file) => file.includes(filter))) {
      throw new StepError(`no test file of the matrix matches '${filter}'${all ? '' : ' (--all adds those left to the host)'}; they are:\n  ${candidates.join('\n  ')}`);
    }
  }
  return candidates.filter((file) => filters.some((filter) => file.includes(filter)));
}
