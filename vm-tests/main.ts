/**
 * `npm run test:vm`: the kernel test files (select.ts) and the feature
 * probe on Debian's 6.1 and 6.12 kernels under QEMU and on the host kernel,
 * reported as a table of test file × kernel. Exit status 0 when everything
 * passed, 1 when anything failed, 2 for bad arguments.
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { compileBpfgen } from '../test/global-setup.js';
import { endPointsOnSignals } from './console.js';
import { FEATURES_FILE, latestProbes, writeFeatures } from './features.js';
import { prepareGuestKernel, type GuestKernel } from './kernels.js';
import { lockCache } from './lock.js';
import { installHostTools, KERNEL_SERIES } from './packages.js';
import { COMPILED, REPO_ROOT } from './paths.js';
import { runInGuest, runOnHost, type PointOutcome } from './point.js';
import { StepError } from './process.js';
import { say } from './progress.js';
import type { GuestMachine } from './qemu.js';
import { updateReadme, README } from './readme.js';
import { matrixTestFiles } from './select.js';
import { report, totals } from './table.js';

const HELP = `Usage: npm run test:vm -- [--kernel K ...] [--all] [--timeout MINUTES] [--cpus N] [--sequential] [FILTER ...]

Runs the kernel test files (those that use describeWithBpf, less the few
vm-tests/select.ts leaves to the host) and \`bpfgen probe --json\` on each
kernel of the matrix: Debian's newest 6.1 and 6.12 kernels, booted under QEMU
(TCG) with the host's root shared read-only, and the host's own kernel, all
at once. Prints a table of test file x kernel and ends with the line
\`N passed, N failed\`; writes vm-tests/FEATURES.md from the probes.

Options:
  --kernel K        run only kernel K: ${[...KERNEL_SERIES.map((series) => series.label), 'host'].join(', ')} (repeatable; default all)
  --all             also run the kernel test files select.ts leaves to the host (slow)
  --timeout M       bound on each kernel's run, boot included, in minutes (default 25)
  --cpus N          vCPUs of each guest (default 1)
  --sequential      boot the guests one after another instead of side by side
  FILTER            run only the test files whose path contains FILTER (repeatable)

Examples:
  npm run test:vm
  npm run test:vm -- --kernel 6.1 test/loader/program.test.ts`;

const LABELS = [...KERNEL_SERIES.map((series) => series.label), 'host'];
/** Tests under emulation run many times slower than on the host; vitest's own limits are scaled for that. */
const GUEST_TEST_TIMEOUT_MS = 10 * 60_000;
const GUEST_MEMORY_MIB = 2048;

interface Options {
  readonly labels: readonly string[];
  readonly filters: readonly string[];
  readonly all: boolean;
  readonly timeoutMs: number;
  readonly cpus: number;
  readonly sequential: boolean;
}

class UsageError extends Error {}

function parseOptions(argv: string[]): Options | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        kernel: { type: 'string', multiple: true },
        all: { type: 'boolean' },
        timeout: { type: 'string' },
        cpus: { type: 'string' },
        sequential: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return undefined;
  const labels = values.kernel ?? LABELS;
  for (const label of labels) {
    if (!LABELS.includes(label)) throw new UsageError(`--kernel: '${label}' is not a kernel of the matrix; choose from ${LABELS.join(', ')}`);
  }
  const minutes = Number(values.timeout ?? '25');
  if (!(minutes > 0)) throw new UsageError(`--timeout: '${values.timeout}' is not a positive number of minutes`);
  const cpus = Number(values.cpus ?? '1');
  if (!Number.isInteger(cpus) || cpus < 1) throw new UsageError(`--cpus: '${values.cpus}' is not a positive whole number`);
  return {
    labels: LABELS.filter((label) => labels.includes(label)),
    cpus,
    filters: positionals,
    all: values.all === true,
    timeoutMs: minutes * 60_000,
    sequential: values.sequential === true,
  };
}

async function runMatrix(options: Options, files: readonly string[]): Promise<PointOutcome[]> {
  say('matrix', 'installing missing host tools (.ci/deps)');
  installHostTools();
  say('matrix', `compiling bpfgen once for the tests and the probe of every kernel, into ${COMPILED}`);
  rmSync(COMPILED, { recursive: true, force: true });
  try {
    compileBpfgen(REPO_ROOT, COMPILED);
  } catch (error) {
    const output = (error as { stdout?: Buffer }).stdout?.toString().trim();
    throw new StepError(`compiling bpfgen (tsc -p tsconfig.json) failed: ${output || (error as Error).message}`);
  }

  const guests: GuestKernel[] = [];
  for (const series of KERNEL_SERIES.filter((s) => options.labels.includes(s.label))) {
    say(series.label, 'preparing the kernel and its initramfs');
    guests.push(prepareGuestKernel(series, (message) => say(series.label, message)));
  }

  // The host's run (minutes) goes alongside the guests' (tens of minutes): the guests set the pace either way.
  const host: Promise<PointOutcome>[] = [];
  if (options.labels.includes('host')) {
    say('host', `running ${files.length} test files on the host kernel`);
    host.push(runOnHost(files, options.timeoutMs));
  }
  const machine: GuestMachine = { cpus: options.cpus, memoryMiB: GUEST_MEMORY_MIB };
  const boot = (kernel: GuestKernel) => {
    say(kernel.label, `booting Linux ${kernel.release} (${machine.cpus} vCPU, TCG)`);
    return runInGuest(kernel, files, { timeoutMs: options.timeoutMs, testTimeoutMs: GUEST_TEST_TIMEOUT_MS, machine });
  };
  const outcomes: PointOutcome[] = [];
  if (options.sequential) {
    for (const kernel of guests) outcomes.push(await boot(kernel));
  } else {
    outcomes.push(...(await Promise.all(guests.map(boot))));
  }
  outcomes.push(...(await Promise.all(host)));
  return LABELS.flatMap((label) => outcomes.filter((outcome) => outcome.label === label));
}

async function main(argv: string[]): Promise<number> {
  const started = Date.now();
  let options: Options | undefined;
  let files: string[];
  try {
    options = parseOptions(argv);
    if (!options) {
      console.log(HELP);
      return 0;
    }
    files = matrixTestFiles(options.filters, options.all);
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof StepError)) throw error;
    console.error(`test:vm: ${error.message}`);
    return 2;
  }
  say('matrix', `${files.length} kernel test files on ${options.labels.join(', ')}`);

  let outcomes: PointOutcome[];
  let unlock: (() => void) | undefined;
  try {
    unlock = lockCache();
    outcomes = await runMatrix(options, files);
  } catch (error) {
    if (!(error instanceof StepError)) throw error;
    console.error(`test:vm: ${error.message}`);
    console.log('0 passed, 1 failed');
    return 1;
  } finally {
    unlock?.();
  }

  const probes = latestProbes(LABELS);
  if (probes.length > 0) {
    writeFeatures(probes);
    say('matrix', `features of ${probes.map((probe) => probe.label).join(', ')} (from their probes) written to ${FEATURES_FILE}`);
  }
  const wallMs = Date.now() - started;
  // Only a run of every kernel and the whole default file set stands for the matrix in the README.
  if (options.labels.length === LABELS.length && options.filters.length === 0 && !options.all && probes.length === LABELS.length) {
    updateReadme(outcomes, files, probes, wallMs);
    say('matrix', `the table and the features some kernel lacks written to ${README}`);
  }
  for (const line of report(outcomes, files, wallMs)) console.log(line);
  return totals(outcomes, files).failed === 0 ? 0 : 1;
}

endPointsOnSignals();
process.exitCode = await main(process.argv.slice(2));
