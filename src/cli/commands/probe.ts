import { BpfError, NativeUnavailableError, PermissionError } from '../../loader/errors.js';
import {
  DEFAULT_HELPER_PROGRAM_TYPES,
  HELPER_PROBE_PROGRAM_TYPES,
  probeAll,
  type FeatureReport,
  type FeatureStatus,
  type HelperReport,
} from '../../loader/probes/index.js';
import type { KernelProgramTypeName } from '../../loader/uapi.js';
import { parseCommandLine } from '../args.js';
import { UsageError, type Command } from '../usage.js';

const HELP = `Usage: bpfgen probe [--json] [--helpers] [--program-type TYPE ...] [--full]

Asks the running kernel which eBPF features it has, the way libbpf and
bpftool do: it loads tiny programs and creates tiny maps (closed at once),
and requests bpf_links the kernel must refuse, so nothing is attached.
Each answer is yes or no; a no says why, from the kernel's own answer, and
every feature shows the Linux release that introduced it.

Groups: program types, map types, instruction set (ISA v2, v3 and the
parts of v4), links (bpf_link, XDP, tcx, netkit), and helpers per program
type, summarised as counts with the helpers the kernel does not know.

Options:
  --json              print one JSON document (the FeatureReport of the library's probeAll)
  --helpers           list every helper of every program type, not just the counts
  --program-type T    probe the helpers of program type T (repeatable; 'all' for every
                      type that can be probed); by default the types bpfgen builds:
                      ${DEFAULT_HELPER_PROGRAM_TYPES.join(', ')}
  --full              also probe trace_printk, trace_vprintk and probe_write_user, whose
                      verification writes to the kernel log (bpftool's 'full' mode)

Exit status: 0 when the table was printed, whatever it says; 2 when this
process cannot ask the kernel (not Linux, native shim not built, no
privileges: run as root or with CAP_BPF and CAP_NET_ADMIN/CAP_PERFMON);
1 when the kernel failed in a way that says nothing about a feature.

Examples:
  sudo bpfgen probe
  sudo bpfgen probe --program-type xdp --helpers
  sudo bpfgen probe --json | jq '.links'`;

function helperProgramTypes(requested: string[] | undefined): readonly KernelProgramTypeName[] {
  if (!requested || requested.length === 0) return DEFAULT_HELPER_PROGRAM_TYPES;
  if (requested.includes('all')) return HELPER_PROBE_PROGRAM_TYPES;
  for (const type of requested) {
    if (!(HELPER_PROBE_PROGRAM_TYPES as readonly string[]).includes(type)) {
      throw new UsageError(
        `--program-type: '${type}' is not a program type whose helpers can be probed (tracing, ext, lsm and struct_ops need a BTF target); ` +
          `choose from ${HELPER_PROBE_PROGRAM_TYPES.join(', ')}, all`,
      );
    }
  }
  return [...new Set(requested)] as KernelProgramTypeName[];
}

function row(label: string, width: number, status: FeatureStatus, showDescription: boolean): string {
  const detail = [showDescription ? status.description : '', status.supported ? '' : status.reason].filter(Boolean).join(': ');
  return `  ${label.padEnd(width)}  ${status.supported ? 'yes' : 'no '}  ${status.since.padEnd(5)}${detail ? `  ${detail}` : ''}`.trimEnd();
}

/** The part of a feature name after its kind: `prog_type:xdp` → `xdp`, `helper:xdp:redirect` → `redirect`. */
function shortName(status: FeatureStatus): string {
  return status.name.split(':').slice(status.name.startsWith('helper:') ? 2 : 1).join(':');
}

function section(title: string, statuses: readonly FeatureStatus[], showDescription: boolean): string[] {
  const width = Math.max(...statuses.map((s) => shortName(s).length));
  const count = statuses.filter((s) => s.supported).length;
  return [`${title}: ${count} of ${statuses.length} available`, ...statuses.map((s) => row(shortName(s), width, s, showDescription)), ''];
}

function helperSummary(report: HelperReport, typeWidth: number, programType: FeatureStatus | undefined, listAll: boolean): string[] {
  const label = `  ${`${report.programType}:`.padEnd(typeWidth + 1)}`;
  if (programType && !programType.supported) return [`${label} the program type is not available: ${programType.reason}`];
  const available = report.helpers.filter((s) => s.supported).length;
  const missing = report.unknownToKernel;
  const lines = [
    `${label} ${available} of ${report.helpers.length} available; ` +
      `${report.helpers.length - available - missing.length} not for this program type; ` +
      `${missing.length} unknown to this kernel${missing.length > 0 ? `: ${missing.join(', ')}` : ''}`,
  ];
  if (listAll) {
    const width = Math.max(...report.helpers.map((s) => shortName(s).length));
    lines.push(...report.helpers.map((s) => `  ${row(shortName(s), width, s, false)}`));
  }
  return lines;
}

function renderText(report: FeatureReport, listHelpers: boolean): string {
  const notProbed = report.helpers[0]?.notProbed ?? [];
  const typeWidth = Math.max(0, ...report.helpers.map((helpers) => helpers.programType.length));
  const programTypes = new Map(report.programTypes.map((status) => [shortName(status), status]));
  return [
    `eBPF features of Linux ${report.kernelRelease} (yes/no, the release that introduced each, and why not)`,
    '',
    ...section('Program types', report.programTypes, false),
    ...section('Map types', report.mapTypes, false),
    ...section('Instruction set', report.isa, true),
    ...section('Links', report.links, true),
    `Helpers by program type${listHelpers ? '' : ' (--helpers lists each)'}`,
    ...report.helpers.flatMap((helpers) => helperSummary(helpers, typeWidth, programTypes.get(helpers.programType), listHelpers)),
    ...(notProbed.length > 0 ? [`  not probed: ${notProbed.map((n) => n.helper).join(', ')} (verifying them writes to the kernel log; --full probes them)`] : []),
    '',
  ].join('\n');
}

export const probeCommand: Command = {
  name: 'probe',
  summary: 'ask the running kernel which eBPF features it has',
  help: HELP,
  async run(argv) {
    const { values } = parseCommandLine(
      'probe',
      argv,
      {
        json: { type: 'boolean' },
        helpers: { type: 'boolean' },
        full: { type: 'boolean' },
        'program-type': { type: 'string', multiple: true },
      },
      false,
    );
    const helperProgramTypesChosen = helperProgramTypes(values['program-type']);
    let report: FeatureReport;
    try {
      report = probeAll({ helperProgramTypes: helperProgramTypesChosen, full: values.full === true });
    } catch (error) {
      // This machine cannot answer: not a bpfgen bug and not bad input, but the same exit code as the latter.
      if (error instanceof NativeUnavailableError || error instanceof PermissionError) {
        process.stderr.write(`bpfgen probe: ${error.message}\n`);
        return 2;
      }
      if (error instanceof BpfError) {
        process.stderr.write(`bpfgen probe: the kernel failed: ${error.message}\n`);
        return 1;
      }
      throw error;
    }
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderText(report, values.helpers === true));
    return 0;
  },
};
