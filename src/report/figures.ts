/**
 * Plotly figures of training runs and token sequences, as plain objects.
 *
 * Every builder is a pure function that returns `{ data, layout }`, ready
 * for `Plotly.newPlot(div, figure.data, figure.layout)`, for the notebook
 * display in `display.ts` and for the standalone report in `html.ts`. Arrays
 * in traces are plain `number[]`, so `JSON.stringify` keeps them as arrays.
 * Losses are cross-entropies in nats per token.
 */

import type { TrainingHistory } from '../train/history.js';

/** One plotly trace. Only the fields the builders set are typed; plotly accepts many more. */
export interface PlotlyTrace {
  /** Trace type, e.g. `scatter` or `bar`. */
  type: string;
  /** Name shown in the legend and on hover. */
  name?: string;
  /** x coordinates. */
  x?: number[];
  /** y coordinates. */
  y?: number[];
  /** Drawing mode of a scatter trace, e.g. `lines` or `lines+markers`. */
  mode?: string;
  /** x axis the trace is drawn on, e.g. `x2`. Default `x`. */
  xaxis?: string;
  /** y axis the trace is drawn on, e.g. `y2`. Default `y`. */
  yaxis?: string;
  [attribute: string]: unknown;
}

/** A plotly figure: traces and layout, as `Plotly.newPlot` takes them. */
export interface Figure {
  /** Traces in drawing order. */
  data: PlotlyTrace[];
  /** Plotly layout attributes: title, axes, legend and size. */
  layout: Record<string, unknown>;
}

/**
 * Count-baseline metrics on the validation set. Cross-entropies are in nats
 * per token and accuracies are shares in [0, 1]. Each one present is drawn
 * as a horizontal line.
 */
export interface BaselineMetrics {
  /** Cross-entropy of the add-one unigram. */
  unigramCE: number;
  /** Cross-entropy of the Kneser–Ney bigram. */
  bigramCE: number;
  /** Accuracy of the bigram's most frequent continuation. */
  bigramAccuracy: number;
  /** Cross-entropy of the Kneser–Ney trigram. */
  trigramCE: number;
  /** Accuracy of the trigram's most frequent continuation. */
  trigramAccuracy: number;
  /** Accuracy of predicting that the previous token repeats. */
  repeatAccuracy: number;
}

/** Options of {@link lossCurvesFigure}. */
export interface LossCurvesOptions {
  /**
   * Entropy rate of the source in nats per token, when it is known (as for
   * the synthetic corpus). Drawn as a horizontal line, because no model can
   * score below it. Default: not drawn.
   */
  entropyRate?: number;
}

/** Options of {@link tokenRasterFigure}. */
export interface TokenRasterOptions {
  /** Token frames per second. When given, the x axis is in seconds; by default it is in frames. */
  frameRateHz?: number;
}

/** Token sequences of each split, for {@link tokenHistogramFigure}. */
export interface TokenSplits {
  /** Training sequences. */
  train: ArrayLike<number>[];
  /** Validation sequences. */
  val: ArrayLike<number>[];
  /** Sequences sampled from a model. Default: not drawn. */
  generated?: ArrayLike<number>[];
}

const COLORS = {
  train: '#1f77b4',
  val: '#ff7f0e',
  generated: '#2ca02c',
  step: 'rgba(31, 119, 180, 0.35)',
  best: '#d62728',
  baseline: '#7f7f7f',
  floor: '#000000',
  prompt: '#1f77b4',
  continuation: '#d62728',
};

const LOSS_UNIT = 'loss (nats/token)';

/**
 * Builds training curves: the loss of every optimiser step (top) and the
 * train and validation loss of every epoch (bottom), with the kept epoch
 * marked.
 *
 * @example
 * showFigure(lossCurvesFigure(history, { entropyRate: 0.868 }));
 */
export function lossCurvesFigure(history: TrainingHistory, options: LossCurvesOptions = {}): Figure {
  const epochs = history.epochs.map((record) => record.epoch);
  const data: PlotlyTrace[] = [
    {
      type: 'scatter',
      mode: 'lines',
      name: 'train loss per step',
      x: history.steps.map((record) => record.step),
      y: history.steps.map((record) => record.loss),
      line: { color: COLORS.step, width: 1 },
      xaxis: 'x',
      yaxis: 'y',
    },
    {
      type: 'scatter',
      mode: 'lines+markers',
      name: 'train loss per epoch',
      x: epochs,
      y: history.epochs.map((record) => record.trainLoss),
      line: { color: COLORS.train },
      xaxis: 'x2',
      yaxis: 'y2',
    },
    {
      type: 'scatter',
      mode: 'lines+markers',
      name: 'validation loss',
      x: epochs,
      y: history.epochs.map((record) => record.valLoss),
      line: { color: COLORS.val },
      xaxis: 'x2',
      yaxis: 'y2',
    },
  ];

  if (history.bestEpoch > 0) {
    data.push({
      type: 'scatter',
      mode: 'markers',
      name: `kept epoch ${history.bestEpoch}`,
      x: [history.bestEpoch],
      y: [history.bestValLoss],
      marker: { color: COLORS.best, size: 12, symbol: 'star' },
      xaxis: 'x2',
      yaxis: 'y2',
    });
  }

  if (options.entropyRate !== undefined) {
    requireFinite(options.entropyRate, 'entropyRate');
    const stepSpan = span(history.steps.map((record) => record.step));
    data.push(horizontalLine(`entropy rate ${options.entropyRate.toFixed(3)}`, options.entropyRate, stepSpan, COLORS.floor, 'x', 'y'));
    data.push(horizontalLine('entropy rate', options.entropyRate, span(epochs), COLORS.floor, 'x2', 'y2', { showlegend: false }));
  }

  return {
    data,
    layout: {
      title: { text: 'Training loss' },
      height: 640,
      xaxis: { title: { text: 'optimiser step' }, anchor: 'y' },
      yaxis: { title: { text: LOSS_UNIT }, domain: [0.58, 1], anchor: 'x' },
      xaxis2: { title: { text: 'epoch' }, anchor: 'y2', dtick: 1 },
      yaxis2: { title: { text: LOSS_UNIT }, domain: [0, 0.42], anchor: 'x2' },
      legend: { orientation: 'h', y: -0.12 },
    },
  };
}

/**
 * Builds validation perplexity (left) and accuracy (right) per epoch, with
 * count baselines as dashed horizontal lines. A baseline's perplexity is
 * e^CE. Baselines that are missing or not finite are left out.
 *
 * @param baselines - count-baseline metrics on the same validation set.
 */
export function perplexityAccuracyFigure(history: TrainingHistory, baselines: Partial<BaselineMetrics> = {}): Figure {
  const epochs = history.epochs.map((record) => record.epoch);
  const epochSpan = span(epochs);
  const data: PlotlyTrace[] = [
    {
      type: 'scatter',
      mode: 'lines+markers',
      name: 'validation perplexity',
      x: epochs,
      y: history.epochs.map((record) => record.valPerplexity),
      line: { color: COLORS.val },
      xaxis: 'x',
      yaxis: 'y',
    },
    {
      type: 'scatter',
      mode: 'lines+markers',
      name: 'validation accuracy',
      x: epochs,
      y: history.epochs.map((record) => record.valAccuracy),
      line: { color: COLORS.train },
      xaxis: 'x2',
      yaxis: 'y2',
    },
  ];

  // Each baseline keeps one dash style in both subplots, so the lines can be distinguished without colour.
  const perplexityBaselines: [string, number | undefined, string][] = [
    ['unigram', baselines.unigramCE, 'dot'],
    ['bigram', baselines.bigramCE, 'dash'],
    ['trigram', baselines.trigramCE, 'dashdot'],
  ];
  for (const [name, crossEntropy, dash] of perplexityBaselines) {
    if (isFiniteNumber(crossEntropy)) {
      const perplexity = Math.exp(crossEntropy);
      data.push(horizontalLine(`${name} perplexity ${perplexity.toFixed(2)}`, perplexity, epochSpan, COLORS.baseline, 'x', 'y', { dash }));
    }
  }

  const accuracyBaselines: [string, number | undefined, string][] = [
    ['bigram', baselines.bigramAccuracy, 'dash'],
    ['trigram', baselines.trigramAccuracy, 'dashdot'],
    ['repeat previous', baselines.repeatAccuracy, 'longdash'],
  ];
  for (const [name, accuracy, dash] of accuracyBaselines) {
    if (isFiniteNumber(accuracy)) {
      data.push(horizontalLine(`${name} accuracy ${accuracy.toFixed(3)}`, accuracy, epochSpan, COLORS.baseline, 'x2', 'y2', { dash }));
    }
  }

  return {
    data,
    layout: {
      title: { text: 'Validation perplexity and accuracy' },
      xaxis: { title: { text: 'epoch' }, domain: [0, 0.45], anchor: 'y', dtick: 1 },
      yaxis: { title: { text: 'perplexity (e^loss)' }, anchor: 'x' },
      xaxis2: { title: { text: 'epoch' }, domain: [0.55, 1], anchor: 'y2', dtick: 1 },
      yaxis2: { title: { text: 'accuracy (share of tokens)' }, anchor: 'x2', rangemode: 'tozero' },
      legend: { orientation: 'h', y: -0.2 },
    },
  };
}

/**
 * Counts how often each token id occurs across sequences, as shares of all
 * their tokens.
 *
 * @param name - split name used in error messages.
 * @returns one share per id in [0, vocabSize); the shares sum to 1.
 * @throws Error when there are no tokens or an id is outside [0, vocabSize).
 */
export function tokenShares(sequences: ArrayLike<number>[], vocabSize: number, name = 'sequences'): number[] {
  requireVocabSize(vocabSize);
  const counts = new Array<number>(vocabSize).fill(0);
  let total = 0;

  sequences.forEach((sequence, s) => {
    for (let t = 0; t < sequence.length; t++) {
      const id = sequence[t];
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new Error(`Token ${id} at position ${t} of ${name} sequence ${s} is outside [0, ${vocabSize}). Pass the vocabulary size of the corpus.`);
      }
      counts[id] += 1;
    }
    total += sequence.length;
  });

  if (total === 0) {
    throw new Error(`${name} has no tokens, so token shares are undefined. Pass at least one non-empty sequence.`);
  }
  return counts.map((count) => count / total);
}

/**
 * Builds grouped bars of token frequency (share of tokens) per id for the
 * train, validation and, when given, generated sequences.
 *
 * @throws Error when a split has no tokens or contains an id outside [0, vocabSize).
 */
export function tokenHistogramFigure(splits: TokenSplits, vocabSize: number): Figure {
  requireVocabSize(vocabSize);
  const ids = Array.from({ length: vocabSize }, (_, id) => id);
  const groups: [string, ArrayLike<number>[] | undefined, string][] = [
    ['train', splits.train, COLORS.train],
    ['validation', splits.val, COLORS.val],
    ['generated', splits.generated, COLORS.generated],
  ];

  const data: PlotlyTrace[] = [];
  for (const [name, sequences, color] of groups) {
    if (sequences === undefined) continue;
    data.push({ type: 'bar', name, x: ids, y: tokenShares(sequences, vocabSize, name), marker: { color } });
  }

  return {
    data,
    layout: {
      title: { text: 'Token frequency' },
      barmode: 'group',
      bargap: 0.15,
      xaxis: { title: { text: 'token id' } },
      yaxis: { title: { text: 'share of tokens' } },
    },
  };
}

/**
 * Builds a raster of token id against time for a prompt and the model's
 * continuation, in two colours, with a dashed vertical line where the
 * continuation starts.
 *
 * @param options - `frameRateHz` puts the x axis in seconds (frame i at i / frameRateHz).
 * @throws Error when `frameRateHz` is given but is not a positive finite number.
 */
export function tokenRasterFigure(prompt: ArrayLike<number>, continuation: ArrayLike<number>, options: TokenRasterOptions = {}): Figure {
  const { frameRateHz } = options;
  if (frameRateHz !== undefined && !(Number.isFinite(frameRateHz) && frameRateHz > 0)) {
    throw new Error(`frameRateHz must be a positive number of frames per second, received ${frameRateHz}.`);
  }
  const toTime = (frame: number): number => (frameRateHz === undefined ? frame : frame / frameRateHz);
  const boundary = toTime(prompt.length);

  const rasterTrace = (name: string, tokens: ArrayLike<number>, firstFrame: number, color: string): PlotlyTrace => ({
    type: 'scatter',
    mode: 'markers',
    name,
    x: Array.from({ length: tokens.length }, (_, i) => toTime(firstFrame + i)),
    y: Array.from(tokens),
    marker: { color, symbol: 'square', size: 5 },
  });

  return {
    data: [rasterTrace('prompt', prompt, 0, COLORS.prompt), rasterTrace('continuation', continuation, prompt.length, COLORS.continuation)],
    layout: {
      title: { text: 'Prompt and continuation' },
      xaxis: { title: { text: frameRateHz === undefined ? 'time (frames)' : 'time (s)' } },
      yaxis: { title: { text: 'token id' } },
      shapes: [
        {
          type: 'line',
          xref: 'x',
          yref: 'paper',
          x0: boundary,
          x1: boundary,
          y0: 0,
          y1: 1,
          line: { color: '#444444', dash: 'dash', width: 1 },
        },
      ],
    },
  };
}

/**
 * Builds validation loss against context length: the value at position p
 * is the mean loss of predicting a window's p-th target from the p tokens
 * before it.
 *
 * @param lossByPosition - mean loss in nats per token for positions 1..L.
 */
export function positionLossFigure(lossByPosition: ArrayLike<number>): Figure {
  return {
    data: [
      {
        type: 'scatter',
        mode: 'lines+markers',
        name: 'validation loss',
        x: Array.from({ length: lossByPosition.length }, (_, i) => i + 1),
        y: Array.from(lossByPosition),
        line: { color: COLORS.val },
      },
    ],
    layout: {
      title: { text: 'Validation loss by context length' },
      // Whole-number ticks for short windows, where plotly would otherwise label half positions.
      xaxis: { title: { text: 'context length (tokens)' }, ...(lossByPosition.length <= 16 ? { dtick: 1 } : {}) },
      yaxis: { title: { text: LOSS_UNIT } },
    },
  };
}

/** Returns [min, max] of the values, widened by 0.5 on each side when they coincide, or [0, 1] when empty. */
function span(values: number[]): [number, number] {
  if (values.length === 0) return [0, 1];
  // A loop rather than Math.min(...values), which overflows the call stack on long step histories.
  let low = values[0];
  let high = values[0];
  for (const value of values) {
    low = Math.min(low, value);
    high = Math.max(high, value);
  }
  return low === high ? [low - 0.5, high + 0.5] : [low, high];
}

function horizontalLine(
  name: string,
  value: number,
  [x0, x1]: [number, number],
  color: string,
  xaxis: string,
  yaxis: string,
  { dash = 'dash', showlegend = true }: { dash?: string; showlegend?: boolean } = {},
): PlotlyTrace {
  return {
    type: 'scatter',
    mode: 'lines',
    name,
    x: [x0, x1],
    y: [value, value],
    line: { color, dash, width: 1 },
    hoverinfo: 'name+y',
    showlegend,
    xaxis,
    yaxis,
  };
}

function isFiniteNumber(value: number | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function requireFinite(value: number, name: string): void {
  if (!Number.isFinite(value)) {
    throw new Error(`${name} must be a finite number of nats per token, received ${value}.`);
  }
}

function requireVocabSize(vocabSize: number): void {
  if (!Number.isInteger(vocabSize) || vocabSize < 1) {
    throw new Error(`vocabSize must be a positive integer, received ${vocabSize}.`);
  }
}
