/**
 * acoustic-lm: train, evaluate and sample next-token Transformer language
 * models over discrete acoustic token sequences with TensorFlow.js.
 *
 * @example
 * import { selectBackend, trainRun } from 'acoustic-lm';
 * await selectBackend();
 * const summary = await trainRun({ tokens: 'units/', type: 'kmeans', out: 'runs/first' });
 *
 * @packageDocumentation
 */

// Backend selection.
export { BACKEND_ORDER, BackendError, currentBackend, parseBackendName, selectBackend } from './backend.js';
export type { BackendName, BackendOptions } from './backend.js';

// Loading tokens.
export { TokenFileError } from './data/errors.js';
export type { TokenFileErrorOptions } from './data/errors.js';
export { loadTokenDirectory, loadTokens } from './data/load.js';
export type { LoadOptions, LoadSkip, TokenCorpus, TokenSequence, TokenType } from './data/load.js';
export { parseTokenNpy, readTokenNpy } from './data/npy.js';
export type { NpyTokenOptions, SkipReason, TokenArrayResult } from './data/npy.js';
export { parseTextUnits, readTextUnits } from './data/textUnits.js';
export type { TextUnitContents, TextUnitOptions } from './data/textUnits.js';
export { encodeTokensNpy, writeTokensNpy } from './data/writeNpy.js';

// Splitting and windows.
export { DEFAULT_SPLIT_SEED, DEFAULT_VAL_FRACTION, splitSequences } from './data/split.js';
export type { SequenceSplit, SplitOptions } from './data/split.js';
export { buildWindows, countTargets, DEFAULT_WINDOW_OPTIONS, fillBatch, windowOrder } from './data/windows.js';
export type { WindowOptions, WindowSet } from './data/windows.js';

// Synthetic demo data.
export { DEFAULT_BAT_CALL_SOURCE, generateSyntheticCorpus, syntheticEntropyRate } from './data/synthetic.js';
export type { BatCallSourceOptions, SyllableType, SyntheticCorpus, SyntheticCorpusOptions, UnitPosition } from './data/synthetic.js';

// Random numbers.
export { Rng } from './random.js';
export type { RngState } from './random.js';

// The model.
export { checkModelConfig, DEFAULT_MODEL_CONFIG, resolveModelConfig } from './model/config.js';
export type { ModelConfig } from './model/config.js';
export { buildParamLayout, countParameters, initParams } from './model/params.js';
export type { ParamEntry, ParamLayout } from './model/params.js';
export { ModelEngine } from './model/engine.js';
export type { AttentionStrategy, BatchInput, BatchScores, EvaluationDetail, GradientResult } from './model/engine.js';
export type { DropoutSpec } from './model/dropout.js';

// Training.
export { AdamW, clipGradNorm, DEFAULT_ADAMW } from './train/adamw.js';
export type { AdamWOptions } from './train/adamw.js';
export { DEFAULT_TRAINING_OPTIONS, NonFiniteError, resolveTrainingOptions, trainModel } from './train/trainer.js';
export type { StepProgress, TrainerCallbacks, TrainInput, TrainingOptions, TrainResult } from './train/trainer.js';
export { RECIPES, recipeOptions } from './train/recipes.js';
export type { RecipeName } from './train/recipes.js';
export { learningRate } from './train/schedule.js';
export type { ScheduleOptions } from './train/schedule.js';
export { DataParallel, defaultWorkerCount } from './train/parallel.js';
export type { DataParallelOptions } from './train/parallel.js';
export { emptyHistory } from './train/history.js';
export type { EpochRecord, StepRecord, TrainingHistory } from './train/history.js';

// Evaluation and baselines.
export { evaluatePerToken, evaluateWindows, perTokenWindows } from './eval/evaluate.js';
export type { BatchEvaluator, EvalProgress, Metrics, ScoringWindow } from './eval/evaluate.js';
export { computeBaselines, formatBaselineTable, KneserNeyModel } from './eval/baselines.js';
export type { BaselineOptions, BaselineResult, ComparisonRow, KneserNeyOptions } from './eval/baselines.js';

// Generation.
export { generate, promptFromFile, promptFromIds, writeGeneration } from './generate/generate.js';
export type { GeneratedSample, GenerateOptions, GenerationResult, GenerationSettings, PromptSpec } from './generate/generate.js';
export { DEFAULT_SAMPLING_OPTIONS, processLogits, sampleNext, validateSamplingOptions } from './generate/sampling.js';
export type { SamplingOptions } from './generate/sampling.js';
export { generationDiagnostics, jensenShannon, repeatRate, unigramDistribution } from './generate/diagnostics.js';
export type { GenerationDiagnostics } from './generate/diagnostics.js';

// Runs and whole workflows.
export { createRunFolder, loadWeights, openRunFolder, readRunConfig, saveWeights, writeRunConfig } from './run/runFolder.js';
export type { CreateRunFolderOptions, RunConfig, RunFolder, SplitRecord } from './run/runFolder.js';
export { RunFolderError, RUN_FORMAT_VERSION } from './run/format.js';
export type { RunManifest } from './run/format.js';
export { loadCheckpoint, saveCheckpoint } from './run/checkpoint.js';
export type { Checkpoint, TrainingState } from './run/checkpoint.js';
export { resumeRun, trainRun } from './pipeline/train.js';
export type { RunSummary, TrainRunOptions } from './pipeline/train.js';
export { applySplit, evaluateFinal, evaluateRun, formatFinalMetrics, loadRun, runEngine } from './pipeline/evaluate.js';
export type { EvaluateRunOptions, FinalEvaluationOptions, FinalMetrics, LoadedRun } from './pipeline/evaluate.js';

// Figures and reports.
export { lossCurvesFigure, perplexityAccuracyFigure, positionLossFigure, tokenHistogramFigure, tokenRasterFigure } from './report/figures.js';
export type { BaselineMetrics, Figure, LossCurvesOptions, PlotlyTrace, TokenRasterOptions, TokenSplits } from './report/figures.js';
export { figureMimeBundle, showFigure } from './report/display.js';
export type { FigureMimeBundleOptions, MimeBundle, ShowFigureOptions } from './report/display.js';
export { renderReportHtml, writeReport } from './report/html.js';
export type { PlotlyBundleOptions, Report, ReportSection, ReportTable } from './report/html.js';
