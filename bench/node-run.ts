// The Node half of `npm run bench`, in a process of its own (bench/main.ts starts it): an
// onnxruntime-web WebGPU session keeps a CPU core busy until its process exits, which must not
// slow the Chromium half. Prints the environment's result as JSON on stdout, progress on stderr.
import { nodeHost } from './node';
import { runBench } from './run';
import { errorText } from './timing';
import { parseBenchOptions } from './types';

try {
  const result = await runBench(
    await nodeHost({ progress: (l) => process.stderr.write(`[bench] node: ${l}\n`) }),
    parseBenchOptions(process.argv.slice(2)),
  );
  process.stdout.write(JSON.stringify(result));
  process.exit(0);
} catch (e) {
  process.stderr.write(`[bench] node: failed: ${errorText(e)}\n`);
  process.exit(1);
}
