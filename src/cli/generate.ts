/**
 * The `acoustic-lm generate` command.
 */
import * as path from 'node:path';

import { BACKEND_ORDER, parseBackendName, selectBackend } from '../backend.js';
import { generate, promptFromFile, promptFromIds, writeGeneration, type PromptSpec } from '../generate/generate.js';
import { loadRun, loadRunSplit, runEngine } from '../pipeline/evaluate.js';
import { intOption, numberOption, requiredOption, UsageError } from './options.js';

/** Help text of the generate command. */
export const GENERATE_HELP = `Usage: acoustic-lm generate --run DIR (--prompt-file F | --from-validation N | --prompt "IDS")
                           --max-new N --out DIR [options]

Prompt (exactly one)
  --prompt-file FILE       a 1-D .npy token file
  --from-validation N      validation sequence N (0-based) of the run's split
  --prompt "IDS"           explicit token ids, e.g. "12 5 7" or "12,5,7"
  --prompt-len N           keep only the first N tokens of the prompt file or sequence (default: 64, the whole
                           file for --prompt-file)

Sampling
  --max-new N              tokens to generate per sample (required)
  --temperature T          softmax temperature, 0 = greedy (default 1)
  --top-k K                keep the K most likely tokens, 0 = off (default 0)
  --top-p P                nucleus sampling threshold in [0, 1], 1 = off (default 1)
  --repetition-penalty R   CTRL-style penalty >= 1 on recent tokens, 1 = off (default 1)
  --penalty-window N       recent tokens the penalty looks at (default 64)
  --num-samples N          continuations per prompt (default 1)
  --seed N                 seed of the draws; equal seeds give equal samples (default 0)
  --no-cache               recompute the whole context every step instead of using the KV cache

Output
  --run DIR                run folder written by acoustic-lm train
  --tokens PATH            token folder for --from-validation (default: the run's)
  --out DIR                folder for sample_<k>.npy files and summary.json
  --backend NAME           one of auto, ${BACKEND_ORDER.join(', ')}`;

/** Options of the generate command for node:util parseArgs. */
export const GENERATE_OPTIONS = {
  run: { type: 'string' },
  'prompt-file': { type: 'string' },
  'from-validation': { type: 'string' },
  prompt: { type: 'string' },
  'prompt-len': { type: 'string' },
  'max-new': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'repetition-penalty': { type: 'string' },
  'penalty-window': { type: 'string' },
  'num-samples': { type: 'string' },
  seed: { type: 'string' },
  'no-cache': { type: 'boolean' },
  tokens: { type: 'string' },
  out: { type: 'string' },
  backend: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type GenerateValues = { [K in keyof typeof GENERATE_OPTIONS]?: (typeof GENERATE_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** Runs `acoustic-lm generate` and returns the exit status. */
export async function generateCommand(values: GenerateValues): Promise<number> {
  const runDir = requiredOption('run', values.run, 'generate');
  const out = requiredOption('out', values.out, 'generate');
  const maxNewTokens = intOption('max-new', requiredOption('max-new', values['max-new'], 'generate'), 1);
  const promptSources = [values['prompt-file'], values['from-validation'], values.prompt].filter((v) => v !== undefined);
  if (promptSources.length !== 1) {
    throw new UsageError('acoustic-lm generate needs exactly one of --prompt-file, --from-validation or --prompt.');
  }
  const promptLen = intOption('prompt-len', values['prompt-len'], 1);

  const log = (line: string): void => console.error(line);
  await selectBackend({ backend: parseBackendName(values.backend), log });
  const run = loadRun(runDir);
  const vocabSize = run.config.model.vocabSize;

  // The validation split is the reference for the diagnostics, so it is loaded whenever the folder is available.
  const val = await loadRunSplit(run.config, run.split, values.tokens).then(
    (sides) => sides.val,
    (error: unknown) => {
      if (values['from-validation'] !== undefined) throw error;
      log(`Diagnostics skipped: the run's token folder could not be read (${error instanceof Error ? error.message.split('\n')[0] : String(error)}).`);
      return undefined;
    },
  );

  let prompt: PromptSpec;
  if (values['prompt-file'] !== undefined) {
    prompt = await promptFromFile(values['prompt-file'], promptLen);
  } else if (values['from-validation'] !== undefined) {
    const index = intOption('from-validation', values['from-validation'], 0, val!.length - 1)!;
    const sequence = val![index];
    const length = Math.min(promptLen ?? 64, sequence.length);
    prompt = { ids: Int32Array.from(sequence).slice(0, length), source: `validation:${index} (${run.split.valNames[index]}):first ${length}` };
  } else {
    prompt = promptFromIds(values.prompt!, vocabSize);
  }

  const engine = runEngine(run);
  try {
    const result = await generate(engine, [prompt], {
      maxNewTokens: maxNewTokens!,
      temperature: numberOption('temperature', values.temperature, 0),
      topK: intOption('top-k', values['top-k'], 0),
      topP: numberOption('top-p', values['top-p'], 0, 1),
      repetitionPenalty: numberOption('repetition-penalty', values['repetition-penalty'], 1),
      penaltyWindow: intOption('penalty-window', values['penalty-window'], 1),
      numSamples: intOption('num-samples', values['num-samples'], 1),
      seed: intOption('seed', values.seed, 0, Number.MAX_SAFE_INTEGER),
      useCache: values['no-cache'] !== true,
      reference: val,
    });
    await writeGeneration(out, result, { run: path.resolve(runDir), promptSource: prompt.source }, vocabSize);

    log(
      `Wrote ${result.samples.length} sample(s) of ${maxNewTokens} tokens to ${out} (${Math.round(result.tokensPerSecond).toLocaleString('en-US')} tokens/s).`,
    );
    if (result.diagnostics !== undefined) {
      const d = result.diagnostics;
      log(
        `Diagnostics: repeats previous token ${(100 * d.repeatPreviousRate).toFixed(1)} %, repeats the token 20 steps back ` +
          `${(100 * d.repeatLag20Rate).toFixed(1)} %, Jensen-Shannon divergence from the validation unigrams ${d.jsDivergence.toFixed(4)} bits.`,
      );
    }
    return 0;
  } finally {
    engine.dispose();
  }
}
