// Builds the native syscall shim at install time. It never fails the
// install: without Linux, a compiler or node-gyp, bpfgen still assembles,
// disassembles and writes ELF files; only loading programs needs the shim,
// and that fails later with an error naming the cause.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const logPath = join(packageRoot, 'build', 'shim-build.log');

function warn(reason) {
  console.warn(`bpfgen: native shim not built (${reason}); assembling works, loading programs will not. Retry with: node scripts/build-shim.mjs`);
}

// npm names its bundled node-gyp in the environment of lifecycle scripts;
// outside npm, look beside the running node, then on PATH.
function findNodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) {
    return [process.execPath, process.env.npm_config_node_gyp];
  }
  const prefix = join(dirname(process.execPath), '..');
  for (const candidate of [
    join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(prefix, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ]) {
    if (existsSync(candidate)) return [process.execPath, candidate];
  }
  return ['node-gyp'];
}

// Point node-gyp at the headers installed with node, so that it never
// downloads a header tarball.
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

function main() {
  if (process.platform !== 'linux') {
    warn(`bpf() exists only on Linux, this is ${process.platform}`);
    return;
  }
  const [command, ...prefixArgs] = findNodeGyp();
  const result = spawnSync(command, [...prefixArgs, 'rebuild', ...nodedirArgs()], {
    cwd: packageRoot,
    encoding: 'utf8',
    timeout: 300_000,
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.error || result.status !== 0) {
    mkdirSync(dirname(logPath), { recursive: true });
    writeFileSync(logPath, output);
    const cause = result.error
      ? `${command}: ${result.error.message}`
      : (output.split('\n').find((line) => /error/i.test(line))?.trim() ?? `node-gyp exited with ${result.status}`);
    warn(`${cause}; full log in ${logPath}`);
  }
}

try {
  main();
} catch (error) {
  warn(error instanceof Error ? error.message : String(error));
}
