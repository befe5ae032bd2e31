/**
 * Sampling continuations of token prompts from a trained model, and saving
 * them as `.npy` files with a JSON summary.
 *
 * Every prompt is continued `numSamples` times. All rows (prompts × samples)
 * are decoded together, one forward pass per step, by the KV-cache decoder
 * or, with `useCache: false`, by full recomputation. Both follow the context
 * policy described in `decoder.ts`.
 */
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';

import * as tf from '@tensorflow/tfjs-core';

import { readTokenNpy } from '../data/npy.js';
import { writeTokensNpy } from '../data/writeNpy.js';
import type { ModelEngine } from '../model/engine.js';
import { Rng } from '../random.js';
import { writeJsonAtomic } from '../run/atomic.js';
import { checkPromptIds, createDecoder, resolveSlide } from './decoder.js';
import { generationDiagnostics, type GenerationDiagnostics } from './diagnostics.js';
import { sampleNext, validateSamplingOptions, type SamplingOptions } from './sampling.js';

/** Options of {@link generate}: the sampling rules plus the length, count, seed and decoder. */
export interface GenerateOptions extends SamplingOptions {
  /** Number of tokens to generate after each prompt, an integer >= 1. */
  maxNewTokens: number;
  /** Continuations per prompt, an integer >= 1. Default 1. */
  numSamples?: number;
  /** Seed of the one generator that draws every token. Default 0. Must be a safe integer. */
  seed?: number;
  /**
   * Tokens dropped from the front of a full context per rebuild, an integer
   * in [1, maxSeqLen]. Default: half of maxSeqLen (see `defaultSlide`).
   * 1 gives the classic "last maxSeqLen tokens" rule.
   */
  slide?: number;
  /** Decode with the KV cache (true, default) or recompute the whole context every step (false). */
  useCache?: boolean;
  /** Real sequences, usually the validation split; when given, the result carries diagnostics of the continuations. */
  reference?: ArrayLike<number>[];
}

/** A prompt and where it came from. */
export interface PromptSpec {
  /** Token ids, oldest first. */
  ids: Int32Array;
  /** Origin shown in summaries, e.g. `file:a.npy:first 32`, `validation:3` or `ids`. */
  source: string;
}

/** One generated continuation. */
export interface GeneratedSample {
  /** The whole prompt as given, even when the model saw only its last maxSeqLen tokens. */
  prompt: Int32Array;
  /** The generated tokens, `maxNewTokens` of them. */
  continuation: Int32Array;
  /** Source of the prompt. */
  source: string;
  /** Index of this continuation among the continuations of its prompt, from 0. */
  sampleIndex: number;
}

/** Every setting of a {@link generate} call after defaults, enough to repeat it. */
export interface GenerationSettings extends Required<SamplingOptions> {
  /** Tokens generated after each prompt. */
  maxNewTokens: number;
  /** Continuations per prompt. */
  numSamples: number;
  /** Seed of the generator that drew every token. */
  seed: number;
  /** Tokens dropped from the front of a full context per rebuild. */
  slide: number;
  /** Whether decoding used the KV cache. */
  useCache: boolean;
}

/** Output of {@link generate}. */
export interface GenerationResult {
  /** Continuations in prompt order, and by sample index within a prompt. */
  samples: GeneratedSample[];
  /** Diagnostics of the continuations against `options.reference`, when it was given. */
  diagnostics?: GenerationDiagnostics;
  /** Generated tokens of all samples per second of decoding (prompt encoding included). */
  tokensPerSecond: number;
  /** Wall-clock seconds of decoding. */
  seconds: number;
  /** The settings used. */
  settings: GenerationSettings;
}

/**
 * Generates `numSamples` continuations of every prompt.
 *
 * A prompt longer than the model's maxSeqLen is accepted: the model starts
 * from its last maxSeqLen tokens, so the first new token is predicted from the
 * longest context the position table allows, and the sample still records the whole
 * prompt. The repetition penalty looks at the whole sequence, prompt
 * included.
 *
 * One `Rng(seed)` draws every token, one draw per row per step in row order
 * (prompt by prompt, sample by sample), so equal arguments give equal tokens
 * on every run and with either decoder, up to float rounding in the logits.
 *
 * @param engine - a model whose weights are loaded.
 * @param prompts - at least one prompt, each with at least one id in [0, vocabSize).
 * @param options - see {@link GenerateOptions}.
 * @returns the samples, optional diagnostics, speed and settings.
 * @throws Error naming the value for an invalid option or prompt, and naming
 *   the step, sample and prompt when the logits contain NaN or +Infinity.
 *
 * @example
 * const result = await generate(engine, [promptFromIds('12 5 7', 100)], { maxNewTokens: 200, topK: 20, seed: 1 });
 */
export async function generate(engine: ModelEngine, prompts: PromptSpec[], options: GenerateOptions): Promise<GenerationResult> {
  const vocabSize = engine.config.vocabSize;
  const settings = resolveSettings(options, engine.config.maxSeqLen, vocabSize);
  checkPrompts(prompts, vocabSize);
  // A backend selected with setBackend may still be loading, e.g. wasm fetching its binary.
  await tf.ready();

  const rows = prompts.flatMap((prompt) => Array.from({ length: settings.numSamples }, (_, sampleIndex) => ({ prompt, sampleIndex })));
  const sequences = rows.map(({ prompt }) => {
    const sequence = new Int32Array(prompt.ids.length + settings.maxNewTokens);
    sequence.set(prompt.ids);
    return sequence;
  });

  const started = performance.now();
  const decoder = createDecoder(engine, { slide: settings.slide, useCache: settings.useCache });
  const rng = new Rng(settings.seed);
  const next = new Int32Array(rows.length);
  let logits = decoder.start(rows.map(({ prompt }) => prompt.ids));

  for (let step = 0; step < settings.maxNewTokens; step++) {
    for (let row = 0; row < rows.length; row++) {
      const promptLength = rows[row].prompt.ids.length;
      const history = sequences[row].subarray(0, promptLength + step);
      next[row] = sampleRow(logits.subarray(row * vocabSize, (row + 1) * vocabSize), history, settings, rng, step, rows[row]);
      sequences[row][promptLength + step] = next[row];
    }
    // The last token needs no logits after it.
    if (step + 1 < settings.maxNewTokens) logits = decoder.append(next);
  }
  const seconds = (performance.now() - started) / 1000;

  const samples = rows.map(({ prompt, sampleIndex }, row) => ({
    prompt: prompt.ids.slice(),
    continuation: sequences[row].slice(prompt.ids.length),
    source: prompt.source,
    sampleIndex,
  }));
  const result: GenerationResult = { samples, tokensPerSecond: (rows.length * settings.maxNewTokens) / seconds, seconds, settings };
  if (options.reference !== undefined) {
    result.diagnostics = generationDiagnostics(
      samples.map((sample) => sample.continuation),
      options.reference,
      vocabSize,
    );
  }
  return result;
}

/** Fills in defaults and checks every option of {@link generate}. */
function resolveSettings(options: GenerateOptions, maxSeqLen: number, vocabSize: number): GenerationSettings {
  const sampling = validateSamplingOptions(options, vocabSize);
  const numSamples = options.numSamples ?? 1;
  const seed = options.seed ?? 0;

  if (!Number.isInteger(options.maxNewTokens) || options.maxNewTokens < 1) {
    throw new Error(`Invalid maxNewTokens ${options.maxNewTokens}: expected an integer >= 1.`);
  }
  if (!Number.isInteger(numSamples) || numSamples < 1) {
    throw new Error(`Invalid numSamples ${numSamples}: expected an integer >= 1 (continuations per prompt).`);
  }
  if (!Number.isSafeInteger(seed)) {
    throw new Error(`Invalid seed ${seed}: expected a safe integer.`);
  }
  return {
    ...sampling,
    maxNewTokens: options.maxNewTokens,
    numSamples,
    seed,
    slide: resolveSlide(options.slide, maxSeqLen),
    useCache: options.useCache ?? true,
  };
}

function checkPrompts(prompts: PromptSpec[], vocabSize: number): void {
  if (prompts.length === 0) {
    throw new Error('Invalid prompts: the list is empty; give at least one prompt.');
  }
  prompts.forEach((prompt, index) => checkPromptIds(prompt.ids, vocabSize, `prompt ${index} (${prompt.source})`));
}

/** Draws one token and adds the sample and prompt to a sampling error, which names the step. */
function sampleRow(
  logits: Float32Array,
  history: Int32Array,
  settings: GenerationSettings,
  rng: Rng,
  step: number,
  row: { prompt: PromptSpec; sampleIndex: number },
): number {
  try {
    return sampleNext(logits, history, settings, rng, step);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`Generation failed for sample ${row.sampleIndex} of prompt ${row.prompt.source}: ${message}`, { cause: error });
  }
}

/**
 * Reads a prompt from a 1-D `.npy` token file.
 *
 * @param file - path of the file, any integer dtype.
 * @param promptLen - number of leading tokens to keep, an integer >= 1. Default: the whole file.
 * @returns the prompt, with source `file:PATH` or `file:PATH:first N`. Ids are
 *   checked against the model's vocabulary later, by {@link generate}.
 * @throws TokenFileError when the file cannot be read or parsed.
 * @throws Error when the array is not 1-D, contains fewer than 2 tokens (the
 *   loader's minimum), or contains fewer than `promptLen` tokens.
 */
export async function promptFromFile(file: string, promptLen?: number): Promise<PromptSpec> {
  if (promptLen !== undefined && (!Number.isInteger(promptLen) || promptLen < 1)) {
    throw new Error(`Invalid prompt length ${promptLen}: expected an integer >= 1.`);
  }

  const result = await readTokenNpy(file);
  if (result.status === 'skipped') {
    throw new Error(
      `Cannot use ${file} as a prompt: the array is skipped by the token loader (${result.reason}); give a 1-D array of at least 2 tokens, or pass the ids as text.`,
    );
  }
  if (promptLen === undefined) {
    return { ids: result.ids, source: `file:${file}` };
  }
  if (promptLen > result.ids.length) {
    throw new Error(
      `Cannot take the first ${promptLen} tokens of ${file} as a prompt: it contains only ${result.ids.length}; use a prompt length of at most ${result.ids.length}.`,
    );
  }
  return { ids: result.ids.slice(0, promptLen), source: `file:${file}:first ${promptLen}` };
}

/**
 * Parses a prompt written as token ids separated by spaces or commas, e.g.
 * `"12 5 7"` or `"12,5,7"`.
 *
 * @param vocabSize - the model's vocabulary size. Every id must lie in [0, vocabSize).
 * @returns the prompt, with source `ids`.
 * @throws Error when the text contains no ids, or naming the first entry that is
 *   not a non-negative integer or lies outside the vocabulary, with its position.
 */
export function promptFromIds(text: string, vocabSize: number): PromptSpec {
  const trimmed = text.trim();
  if (trimmed === '') {
    throw new Error('Invalid prompt ids: the text is empty; give token ids such as "12 5 7" or "12,5,7".');
  }

  const ids = trimmed.split(/[\s,]+/).map((part, position) => {
    if (!/^\d+$/.test(part)) {
      throw new Error(`Invalid prompt id "${part}" at position ${position}: expected an integer in [0, ${vocabSize - 1}].`);
    }
    return Number(part);
  });
  checkPromptIds(ids, vocabSize, 'prompt ids');
  return { ids: Int32Array.from(ids), source: 'ids' };
}

/**
 * Writes every sample and a summary to `outDir`, creating the folder if needed.
 *
 * Sample k (numbered over all prompts and samples, from 0) gives two files:
 * `sample_<k>.npy`, the prompt followed by the continuation, and
 * `sample_<k>_continuation.npy`, the continuation alone. Both are int16 when
 * vocabSize <= 32768, else int32. `summary.json` starts with the caller's
 * `summary` fields, such as the checkpoint path. The settings, the file
 * layout, each sample's source and lengths, diagnostics and speed follow and
 * replace caller fields of the same name. Each file is written atomically
 * and the summary last, so a complete summary means complete samples.
 *
 * @param vocabSize - the model's vocabulary size, which picks the dtype.
 * @throws RangeError when a token is outside [0, vocabSize).
 * @throws Error from node:fs when a write fails.
 */
export async function writeGeneration(outDir: string, result: GenerationResult, summary: Record<string, unknown>, vocabSize: number): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const width = Math.max(3, String(Math.max(0, result.samples.length - 1)).length);

  const sampleSummaries = [];
  for (let k = 0; k < result.samples.length; k++) {
    const sample = result.samples[k];
    const name = `sample_${String(k).padStart(width, '0')}`;
    const full = new Int32Array(sample.prompt.length + sample.continuation.length);
    full.set(sample.prompt);
    full.set(sample.continuation, sample.prompt.length);

    await writeTokensNpy(path.join(outDir, `${name}.npy`), full, vocabSize);
    await writeTokensNpy(path.join(outDir, `${name}_continuation.npy`), sample.continuation, vocabSize);
    sampleSummaries.push({
      file: `${name}.npy`,
      continuationFile: `${name}_continuation.npy`,
      source: sample.source,
      sampleIndex: sample.sampleIndex,
      promptLength: sample.prompt.length,
      continuationLength: sample.continuation.length,
    });
  }

  await writeJsonAtomic(path.join(outDir, 'summary.json'), {
    ...summary,
    settings: result.settings,
    vocabSize,
    files: 'sample_<k>.npy contains the prompt followed by the continuation; sample_<k>_continuation.npy contains the continuation only.',
    samples: sampleSummaries,
    diagnostics: result.diagnostics ?? null,
    tokensPerSecond: result.tokensPerSecond,
    seconds: result.seconds,
  });
}
