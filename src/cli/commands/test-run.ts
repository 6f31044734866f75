import { PROGRAMS, programNamed } from '../../programs/index.js';
import { integerFlag, parseCommandLine } from '../args.js';
import { withLoadedProgram } from '../load.js';
import { diffPackets } from '../packet/diff.js';
import { toHex } from '../packet/hex.js';
import { inputPacket, type InputPacket } from '../packet/input.js';
import { PACKET_PRESETS, PACKET_PRESET_NAMES } from '../packet/presets.js';
import { renderDiff } from '../packet/render.js';
import { verdictOf } from '../packet/verdict.js';
import { findProgram, programFlags, programOptionHelp, programOptionValues } from '../program-args.js';
import { UsageError, type Command } from '../usage.js';

/** Enough for a benchmark of a few seconds at tens of nanoseconds a run, and a bound on how long one call can take. */
const MAX_REPEAT = 10_000_000;

const programHelp = Object.values(PROGRAMS)
  .map((p) => `  ${p.name} (${p.type})\n${programOptionHelp(p)}`)
  .join('\n');
const presetHelp = PACKET_PRESET_NAMES.map((name) => `    ${name.padEnd(10)} ${PACKET_PRESETS[name].description}`).join('\n');

export const testRunCommand: Command = {
  name: 'test-run',
  summary: 'run a built-in program on a packet in the kernel (BPF_PROG_TEST_RUN) and show what it did',
  help: `Usage: bpfgen test-run PROGRAM [program options] (--packet HEX | --pcap FILE [--index N] | --packet-preset NAME)
                        [--repeat N] [--json]

Builds and loads PROGRAM, runs it once (or N times) on the packet with
BPF_PROG_TEST_RUN, and prints its return value by name (XDP_PASS, TC_ACT_SHOT,
the length a socket filter keeps), the kernel's time per run, and the output
packet beside the input, header field by header field: 'old → new' where the
program changed a field, and whether the IPv4 header and UDP checksums verify
before and after. Needs root (or CAP_BPF with CAP_NET_ADMIN).

Options:
  --packet HEX          the frame as hex, from the Ethernet header on; spaces, ':' and
                        '-' between bytes and 0x prefixes are ignored
  --pcap FILE           take the frame from a classic pcap capture (Ethernet link type;
                        convert pcapng with editcap -F pcap)
  --index N             which packet of the capture, counting from 1 as Wireshark does
                        (default 1)
  --packet-preset NAME  a ready-made frame, with correct checksums:
${presetHelp}
  --repeat N            run N times (1-${MAX_REPEAT}); the time shown is the kernel's mean.
                        The kernel keeps one packet buffer, so each run starts from the
                        packet as the run before left it; the output is the last run's
  --json                print one JSON object instead of text

Programs:
${programHelp}

Examples:
  bpfgen test-run xdp-dns-forward --packet-preset dns-query
  bpfgen test-run xdp-dns-forward --packet ${toHex(PACKET_PRESETS['dns-query'].build())}
  bpfgen test-run xdp-dns-forward --listen-port 5054 --pcap dns.pcap --index 2 --repeat 1000
  bpfgen test-run xdp-dns-forward --packet-preset dns-reply --json`,
  async run(argv) {
    // Program flags are only known once the program is named, so find it first.
    const common = {
      packet: { type: 'string' },
      pcap: { type: 'string' },
      index: { type: 'string' },
      'packet-preset': { type: 'string' },
      repeat: { type: 'string' },
      json: { type: 'boolean' },
    } as const;
    const named = argv.map(programNamed).find((entry) => entry !== undefined);
    const { values, positionals } = parseCommandLine('test-run', argv, { ...common, ...(named ? programFlags(named) : {}) });
    if (positionals.length !== 1) throw new UsageError(`test-run: expected one PROGRAM${positionals.length > 1 ? `, not ${positionals.length} arguments` : ''} (see bpfgen list)`);
    const entry = findProgram('test-run', positionals[0]);
    const assembled = entry.build(programOptionValues(entry, values));
    const repeat = values.repeat === undefined ? 1 : integerFlag('--repeat', values.repeat as string, 1, MAX_REPEAT);
    const packet = inputPacket({
      packet: values.packet as string | undefined,
      pcap: values.pcap as string | undefined,
      index: values.index as string | undefined,
      preset: values['packet-preset'] as string | undefined,
    });

    return withLoadedProgram('test-run', assembled, (program) => {
      const result = program.testRun(packet.bytes, { repeat });
      const verdict = verdictOf(assembled.type, result.retval, packet.bytes.length);
      const diff = diffPackets(packet.bytes, result.data);
      const loaded = { name: program.name, id: program.id, tag: program.tag };
      if (values.json === true) {
        const report = {
          program: entry.name,
          type: assembled.type,
          loaded,
          input: { source: packet.source, ...(packet.note ? { note: packet.note } : {}), length: packet.bytes.length, hex: toHex(packet.bytes) },
          result: { retval: result.retval, value: verdict.value, name: verdict.name },
          durationNs: result.duration,
          repeat,
          output: { length: result.data.length, hex: toHex(result.data) },
          diff,
        };
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return 0;
      }
      const summary = [
        ['program', `${entry.name} (${assembled.type}), loaded as ${loaded.name} id ${loaded.id} tag ${loaded.tag}`],
        ['input', describeInput(packet)],
        ['result', `${verdict.name} (${verdict.value})`],
        ['duration', `${result.duration} ns per run (kernel's mean over ${repeat} run${repeat === 1 ? '' : 's'})`],
        ['output', `${result.data.length} bytes, ${diff.bytesChanged} byte${diff.bytesChanged === 1 ? '' : 's'} changed${result.data.length !== packet.bytes.length ? ` (length ${packet.bytes.length} → ${result.data.length})` : ''}`],
      ];
      const lines = [...summary.map(([k, v]) => `${k!.padEnd(9)} ${v}`), '', ...renderDiff(diff)];
      process.stdout.write(`${lines.join('\n')}\n`);
      return 0;
    });
  },
};

function describeInput(packet: InputPacket): string {
  return `${packet.source}, ${packet.bytes.length} bytes${packet.note ? ` (${packet.note})` : ''}`;
}
