/**
 * A SYNTHETIC stochastic source of bat-call-like token sequences whose
 * entropy rate is known exactly, and the demo corpus drawn from it.
 *
 * The source is a unifilar Markov source: a finite-state Markov chain in
 * which every transition emits one token and the next state is a
 * deterministic function of the current state and that token. A known start
 * state plus the tokens so far therefore identify the current state, and
 *
 *   entropy rate = Σ_s π(s) · H(next token | s)
 *
 * with π the stationary distribution of the chain. On long sequences a
 * model given the whole history can reach this rate and no model can go
 * below it in expectation, which makes the corpus a test bed for language
 * models over acoustic units.
 *
 * The default source mimics a call recording. Runs of a silence unit
 * alternate with syllables, and each syllable is a unique onset unit
 * followed by body units. Some body units occur in two syllable types, so
 * predicting what follows them needs the onset further back. Every unit
 * repeats in a run of random length, and a syllable "syntax" chains
 * syllables directly or separates them by silence. Run lengths are capped,
 * so the state is a function of at most the last few dozen tokens.
 */

import { Rng } from '../random.js';

/** One position of a syllable: the unit emitted there, with its alternatives and run length. */
export interface UnitPosition {
  /** Alternative units for this position; one is chosen each time the syllable reaches it. */
  units: number[];
  /** Relative weights of `units`. Default: equal weights. */
  weights?: number[];
  /**
   * Probability that the unit repeats once more while its run is shorter
   * than the source's `maxRun`. The run length is therefore geometric,
   * truncated at `maxRun`.
   */
  hold: number;
}

/** A syllable type: a fixed sequence of positions and the syllables that may follow it. */
export interface SyllableType {
  /** Name used by `next` and `firstSyllableWeights`. */
  name: string;
  /** Positions in order. The first one is the onset, which should use units no other position uses. */
  positions: UnitPosition[];
  /** Relative weights of the syllable types that may follow directly, without silence, by name. */
  next: Record<string, number>;
}

/** Parameters of the bat-call-like source. Every field has a default (see {@link DEFAULT_BAT_CALL_SOURCE}). */
export interface BatCallSourceOptions {
  /** Number of token ids; every unit must be below it. */
  vocabSize: number;
  /** Unit that stands for silence. */
  silenceUnit: number;
  /** Probability that silence continues while its run is shorter than `maxSilenceRun`. */
  silenceHold: number;
  /** Maximum silence run in tokens. A silence of this length always ends. */
  maxSilenceRun: number;
  /** Maximum run of one syllable unit in tokens. A run of this length always advances. */
  maxRun: number;
  /** Probability that a finished syllable is followed by silence rather than by another syllable. */
  pauseProbability: number;
  /** Relative weights of the syllable types that start after a silence, by name. */
  firstSyllableWeights: Record<string, number>;
  /** The syllable types. */
  syllables: SyllableType[];
}

const SKEWED_PAIR = [0.7, 0.3];

/**
 * Default source: 48 units (unit 0 is silence, units 1–8 are the onsets of
 * the eight syllable types A–H, units 9–47 are body units, of which 9, 11
 * and 19 occur in two syllable types each).
 */
export const DEFAULT_BAT_CALL_SOURCE: BatCallSourceOptions = {
  vocabSize: 48,
  silenceUnit: 0,
  // Mean silence run of about 5 frames, capped so that the state stays a function of recent tokens.
  silenceHold: 0.8,
  maxSilenceRun: 20,
  maxRun: 8,
  pauseProbability: 0.3,
  firstSyllableWeights: { A: 3, B: 2, C: 2, D: 1, E: 2, F: 1, G: 1, H: 1 },
  syllables: [
    {
      name: 'A',
      positions: [
        { units: [1], hold: 0.3 },
        { units: [9, 10], weights: SKEWED_PAIR, hold: 0.6 },
        { units: [11], hold: 0.7 },
        { units: [12, 13], weights: SKEWED_PAIR, hold: 0.5 },
      ],
      next: { A: 0.5, B: 0.3, D: 0.2 },
    },
    {
      name: 'B',
      positions: [
        { units: [2], hold: 0.3 },
        { units: [14], hold: 0.6 },
        { units: [15, 16], weights: SKEWED_PAIR, hold: 0.6 },
        { units: [9], hold: 0.5 },
      ],
      next: { C: 0.6, A: 0.4 },
    },
    {
      name: 'C',
      positions: [
        { units: [3], hold: 0.4 },
        { units: [17, 18], weights: SKEWED_PAIR, hold: 0.7 },
        { units: [19], hold: 0.5 },
        { units: [20], hold: 0.6 },
        { units: [21, 22], weights: SKEWED_PAIR, hold: 0.6 },
      ],
      next: { C: 0.3, E: 0.7 },
    },
    {
      name: 'D',
      positions: [
        { units: [4], hold: 0.3 },
        { units: [23], hold: 0.5 },
        { units: [11, 24], weights: [0.5, 0.5], hold: 0.6 },
      ],
      next: { A: 0.5, F: 0.5 },
    },
    {
      name: 'E',
      positions: [
        { units: [5], hold: 0.3 },
        { units: [25, 26], weights: SKEWED_PAIR, hold: 0.6 },
        { units: [27], hold: 0.7 },
        { units: [28], hold: 0.5 },
        { units: [29], hold: 0.6 },
        { units: [30, 31], weights: SKEWED_PAIR, hold: 0.5 },
      ],
      next: { G: 0.6, H: 0.4 },
    },
    {
      name: 'F',
      positions: [
        { units: [6], hold: 0.4 },
        { units: [32], hold: 0.6 },
        { units: [33, 34], weights: SKEWED_PAIR, hold: 0.6 },
        { units: [35], hold: 0.7 },
      ],
      next: { F: 0.4, B: 0.6 },
    },
    {
      name: 'G',
      positions: [
        { units: [7], hold: 0.3 },
        { units: [36, 37], weights: [0.5, 0.5], hold: 0.5 },
        { units: [38], hold: 0.6 },
        { units: [19], hold: 0.6 },
        { units: [39, 40], weights: SKEWED_PAIR, hold: 0.6 },
      ],
      next: { H: 1 },
    },
    {
      name: 'H',
      positions: [
        { units: [8], hold: 0.3 },
        { units: [41], hold: 0.7 },
        { units: [42, 43], weights: [0.5, 0.5], hold: 0.5 },
        { units: [44], hold: 0.6 },
        { units: [45, 46], weights: SKEWED_PAIR, hold: 0.6 },
        { units: [47], hold: 0.5 },
      ],
      next: { A: 0.3, D: 0.3, F: 0.4 },
    },
  ],
};

/** One outgoing transition of a state: emit `token` with `probability` and move to state `next`. */
export interface SourceTransition {
  token: number;
  probability: number;
  next: number;
}

/** A state of a unifilar source. */
export interface SourceState {
  /** Readable name, e.g. `silence run 3` or `C position 2 unit 19 run 1`. */
  label: string;
  /** Outgoing transitions with positive probability; their tokens are distinct. */
  transitions: SourceTransition[];
}

/**
 * A unifilar Markov source: states with token-emitting transitions whose
 * tokens are distinct within each state, and a start state.
 */
export interface UnifilarSource {
  vocabSize: number;
  states: SourceState[];
  /** Index of the state before the first token of every sequence. */
  start: number;
}

/** Tolerance on probability sums and on the stationary residual. */
const EXACT_TOLERANCE = 1e-12;

/**
 * Builds the state machine of the bat-call-like source.
 *
 * States are enumerated from the start state (silence, run length 1), so
 * only reachable states exist. A silence state is its run length, and a
 * syllable state is (syllable type, position, chosen unit, run length).
 *
 * @param options - source parameters. Missing fields take the values of {@link DEFAULT_BAT_CALL_SOURCE}.
 * @returns the source, validated to be unifilar with transition probabilities summing to 1.
 * @throws Error when a parameter is invalid or two transitions of one state emit the same token.
 *
 * @example
 * const source = buildBatCallSource();
 * entropyRate(source); // nats per token
 */
export function buildBatCallSource(options: Partial<BatCallSourceOptions> = {}): UnifilarSource {
  const config: BatCallSourceOptions = { ...DEFAULT_BAT_CALL_SOURCE, ...options };
  validateBatCallOptions(config);

  const nameToIndex = new Map(config.syllables.map((syllable, index) => [syllable.name, index]));
  const firstWeights = normalisedWeights(config.firstSyllableWeights, nameToIndex, 'firstSyllableWeights');
  const nextWeights = config.syllables.map((syllable) =>
    normalisedWeights(syllable.next, nameToIndex, `syllable ${syllable.name} next`),
  );

  const states: SourceState[] = [];
  const indexByKey = new Map<string, number>();
  const pending: string[] = [];

  const stateIndex = (key: string): number => {
    let index = indexByKey.get(key);
    if (index === undefined) {
      index = states.length;
      indexByKey.set(key, index);
      states.push({ label: describeKey(key, config), transitions: [] });
      pending.push(key);
    }
    return index;
  };

  // Entering a syllable: emit one of the onset units and start its run.
  const onsetTransitions = (syllableWeights: number[], mass: number): SourceTransition[] => {
    const transitions: SourceTransition[] = [];
    syllableWeights.forEach((syllableWeight, k) => {
      if (syllableWeight === 0) return;
      const onset = config.syllables[k].positions[0];
      unitWeights(onset).forEach((unitWeight, v) => {
        transitions.push({
          token: onset.units[v],
          probability: mass * syllableWeight * unitWeight,
          next: stateIndex(syllableKey(k, 0, v, 1)),
        });
      });
    });
    return transitions;
  };

  const start = stateIndex(silenceKey(1));
  while (pending.length > 0) {
    const key = pending.pop() as string;
    const index = indexByKey.get(key) as number;
    const parsed = key.split(':').map(Number);
    const transitions =
      key.startsWith('s:')
        ? silenceTransitions(parsed[1], config, firstWeights, stateIndex, onsetTransitions)
        : syllableTransitions(parsed.slice(1), config, nextWeights, stateIndex, onsetTransitions);
    states[index].transitions = transitions.filter((transition) => transition.probability > 0);
  }

  const source: UnifilarSource = { vocabSize: config.vocabSize, states, start };
  validateUnifilarSource(source);
  return source;
}

function silenceKey(run: number): string {
  return `s:${run}`;
}

function syllableKey(syllable: number, position: number, variant: number, run: number): string {
  return `y:${syllable}:${position}:${variant}:${run}`;
}

function describeKey(key: string, config: BatCallSourceOptions): string {
  const parts = key.split(':').map(Number);
  if (key.startsWith('s:')) {
    return `silence run ${parts[1]}`;
  }
  const [, k, j, v, run] = parts;
  const syllable = config.syllables[k];
  return `${syllable.name} position ${j} unit ${syllable.positions[j].units[v]} run ${run}`;
}

type StateIndexer = (key: string) => number;
type OnsetBuilder = (syllableWeights: number[], mass: number) => SourceTransition[];

function silenceTransitions(
  run: number,
  config: BatCallSourceOptions,
  firstWeights: number[],
  stateIndex: StateIndexer,
  onsetTransitions: OnsetBuilder,
): SourceTransition[] {
  const hold = run < config.maxSilenceRun ? config.silenceHold : 0;
  const transitions: SourceTransition[] = [];
  if (hold > 0) {
    transitions.push({ token: config.silenceUnit, probability: hold, next: stateIndex(silenceKey(run + 1)) });
  }
  transitions.push(...onsetTransitions(firstWeights, 1 - hold));
  return transitions;
}

function syllableTransitions(
  [k, j, v, run]: number[],
  config: BatCallSourceOptions,
  nextWeights: number[][],
  stateIndex: StateIndexer,
  onsetTransitions: OnsetBuilder,
): SourceTransition[] {
  const positions = config.syllables[k].positions;
  const position = positions[j];
  const hold = run < config.maxRun ? position.hold : 0;
  const transitions: SourceTransition[] = [];

  if (hold > 0) {
    transitions.push({ token: position.units[v], probability: hold, next: stateIndex(syllableKey(k, j, v, run + 1)) });
  }

  const leave = 1 - hold;
  if (j + 1 < positions.length) {
    const following = positions[j + 1];
    unitWeights(following).forEach((weight, nextVariant) => {
      transitions.push({
        token: following.units[nextVariant],
        probability: leave * weight,
        next: stateIndex(syllableKey(k, j + 1, nextVariant, 1)),
      });
    });
    return transitions;
  }

  // The syllable has ended: a silence or, directly, the onset of the next syllable.
  const pause = leave * config.pauseProbability;
  if (pause > 0) {
    transitions.push({ token: config.silenceUnit, probability: pause, next: stateIndex(silenceKey(1)) });
  }
  transitions.push(...onsetTransitions(nextWeights[k], leave - pause));
  return transitions;
}

function unitWeights(position: UnitPosition): number[] {
  const raw = position.weights ?? position.units.map(() => 1);
  const total = raw.reduce((sum, weight) => sum + weight, 0);
  return raw.map((weight) => weight / total);
}

function normalisedWeights(weights: Record<string, number>, nameToIndex: Map<string, number>, field: string): number[] {
  const result = new Array<number>(nameToIndex.size).fill(0);
  for (const [name, weight] of Object.entries(weights)) {
    const index = nameToIndex.get(name);
    if (index === undefined) {
      throw new Error(`${field} names an unknown syllable type "${name}". Known types: ${[...nameToIndex.keys()].join(', ')}.`);
    }
    if (!Number.isFinite(weight) || weight < 0) {
      throw new Error(`${field} weight of "${name}" must be a finite number >= 0, received ${weight}.`);
    }
    result[index] = weight;
  }
  const total = result.reduce((sum, weight) => sum + weight, 0);
  if (!(total > 0)) {
    throw new Error(`${field} must give at least one syllable type a positive weight, received ${JSON.stringify(weights)}.`);
  }
  return result.map((weight) => weight / total);
}

function validateProbability(value: number, field: string): void {
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw new Error(`${field} must be a probability in [0, 1], received ${value}.`);
  }
}

function validatePositiveInteger(value: number, field: string): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${field} must be a positive integer, received ${value}.`);
  }
}

function validateUnit(unit: number, vocabSize: number, field: string): void {
  if (!Number.isInteger(unit) || unit < 0 || unit >= vocabSize) {
    throw new Error(`${field} must be an integer unit in [0, ${vocabSize}), received ${unit}. Raise vocabSize or change the unit.`);
  }
}

function validateBatCallOptions(config: BatCallSourceOptions): void {
  validatePositiveInteger(config.vocabSize, 'vocabSize');
  validateUnit(config.silenceUnit, config.vocabSize, 'silenceUnit');
  validateProbability(config.silenceHold, 'silenceHold');
  validatePositiveInteger(config.maxSilenceRun, 'maxSilenceRun');
  validatePositiveInteger(config.maxRun, 'maxRun');
  validateProbability(config.pauseProbability, 'pauseProbability');
  if (config.syllables.length === 0) {
    throw new Error('syllables must list at least one syllable type.');
  }

  const names = new Set<string>();
  for (const syllable of config.syllables) {
    if (names.has(syllable.name)) {
      throw new Error(`Syllable type names must be unique, "${syllable.name}" appears twice.`);
    }
    names.add(syllable.name);
    if (syllable.positions.length === 0) {
      throw new Error(`Syllable type ${syllable.name} must have at least one position.`);
    }
    syllable.positions.forEach((position, j) => validatePosition(position, config.vocabSize, `Syllable ${syllable.name} position ${j}`));
  }
}

function validatePosition(position: UnitPosition, vocabSize: number, field: string): void {
  if (position.units.length === 0) {
    throw new Error(`${field} must list at least one unit.`);
  }
  position.units.forEach((unit) => validateUnit(unit, vocabSize, `${field} unit`));
  if (new Set(position.units).size !== position.units.length) {
    throw new Error(`${field} lists a unit twice: ${position.units.join(', ')}.`);
  }
  if (position.weights !== undefined) {
    if (position.weights.length !== position.units.length) {
      throw new Error(`${field} has ${position.units.length} units but ${position.weights.length} weights. Give one weight per unit.`);
    }
    if (position.weights.some((weight) => !Number.isFinite(weight) || weight <= 0)) {
      throw new Error(`${field} weights must be finite and > 0, received ${position.weights.join(', ')}.`);
    }
  }
  validateProbability(position.hold, `${field} hold`);
}

/**
 * Checks that a source is well formed: tokens inside the vocabulary, next
 * states that exist, positive probabilities summing to 1 within 1e-12, and
 * distinct tokens within each state (the unifilar property).
 *
 * @throws Error naming the first state that breaks a rule.
 */
export function validateUnifilarSource(source: UnifilarSource): void {
  const { states, vocabSize } = source;
  if (!Number.isInteger(source.start) || source.start < 0 || source.start >= states.length) {
    throw new Error(`Source start state ${source.start} does not exist. The source has ${states.length} states.`);
  }

  states.forEach((state, index) => {
    let total = 0;
    const seen = new Set<number>();
    for (const transition of state.transitions) {
      validateUnit(transition.token, vocabSize, `State "${state.label}" transition token`);
      if (!(transition.probability > 0) || transition.probability > 1) {
        throw new Error(`State "${state.label}" has a transition with probability ${transition.probability}. Keep only probabilities in (0, 1].`);
      }
      if (!Number.isInteger(transition.next) || transition.next < 0 || transition.next >= states.length) {
        throw new Error(`State "${state.label}" moves to state ${transition.next}, which does not exist.`);
      }
      if (seen.has(transition.token)) {
        throw new Error(
          `State "${state.label}" (index ${index}) emits token ${transition.token} on two transitions, so the state ` +
            'could not be recovered from the tokens. Give each position, onset and silence units of its own.',
        );
      }
      seen.add(transition.token);
      total += transition.probability;
    }
    if (Math.abs(total - 1) > EXACT_TOLERANCE) {
      throw new Error(`Transition probabilities of state "${state.label}" sum to ${total}, not 1.`);
    }
  });
}

/**
 * Computes the stationary distribution π = πP of the source's chain by
 * solving the linear system with Gaussian elimination (partial pivoting),
 * one balance equation replaced by Σπ = 1.
 *
 * @returns π, indexed like `source.states`.
 * @throws Error when the system is singular (the chain has more than one
 *   closed class) or the residual ‖πP − π‖₁ exceeds 1e-12.
 */
export function stationaryDistribution(source: UnifilarSource): Float64Array {
  const n = source.states.length;

  // Row i of the system is the balance equation of state i: Σ_s π(s) P(s→i) − π(i) = 0.
  const matrix = Array.from({ length: n }, () => new Float64Array(n));
  source.states.forEach((state, s) => {
    matrix[s][s] -= 1;
    for (const transition of state.transitions) {
      matrix[transition.next][s] += transition.probability;
    }
  });
  const rhs = new Float64Array(n);
  matrix[n - 1].fill(1);
  rhs[n - 1] = 1;

  const pi = solveLinearSystem(matrix, rhs);
  const residual = stationaryResidual(source, pi);
  if (!(residual <= EXACT_TOLERANCE)) {
    throw new Error(`Stationary distribution residual ${residual} exceeds ${EXACT_TOLERANCE}, so the chain may be badly conditioned.`);
  }
  return pi;
}

/** Returns ‖πP − π‖₁ for a candidate stationary distribution. */
export function stationaryResidual(source: UnifilarSource, pi: ArrayLike<number>): number {
  const next = new Float64Array(source.states.length);
  source.states.forEach((state, s) => {
    for (const transition of state.transitions) {
      next[transition.next] += pi[s] * transition.probability;
    }
  });
  let residual = 0;
  for (let i = 0; i < next.length; i++) {
    residual += Math.abs(next[i] - pi[i]);
  }
  return residual;
}

function solveLinearSystem(matrix: Float64Array[], rhs: Float64Array): Float64Array {
  const n = rhs.length;
  for (let column = 0; column < n; column++) {
    let pivot = column;
    for (let row = column + 1; row < n; row++) {
      if (Math.abs(matrix[row][column]) > Math.abs(matrix[pivot][column])) pivot = row;
    }
    if (Math.abs(matrix[pivot][column]) < 1e-14) {
      throw new Error(
        `The stationary equations are singular at column ${column}: the chain has more than one closed class. ` +
          'Make every syllable type reachable from every other one.',
      );
    }
    [matrix[column], matrix[pivot]] = [matrix[pivot], matrix[column]];
    [rhs[column], rhs[pivot]] = [rhs[pivot], rhs[column]];

    const pivotRow = matrix[column];
    for (let row = column + 1; row < n; row++) {
      const factor = matrix[row][column] / pivotRow[column];
      if (factor === 0) continue;
      const target = matrix[row];
      for (let k = column; k < n; k++) target[k] -= factor * pivotRow[k];
      rhs[row] -= factor * rhs[column];
    }
  }

  const solution = new Float64Array(n);
  for (let row = n - 1; row >= 0; row--) {
    let sum = rhs[row];
    for (let k = row + 1; k < n; k++) sum -= matrix[row][k] * solution[k];
    solution[row] = sum / matrix[row][row];
  }
  return solution;
}

/** Returns H(next token | state) in nats for every state. */
export function stateEntropies(source: UnifilarSource): Float64Array {
  return Float64Array.from(source.states, (state) =>
    state.transitions.reduce((sum, transition) => sum - transition.probability * Math.log(transition.probability), 0),
  );
}

/**
 * Computes the exact entropy rate Σ_s π(s) · H(next | s) in nats per token.
 *
 * @example
 * entropyRate(buildBatCallSource()) / Math.LN2; // bits per token
 */
export function entropyRate(source: UnifilarSource): number {
  const pi = stationaryDistribution(source);
  const entropies = stateEntropies(source);
  let rate = 0;
  for (let s = 0; s < pi.length; s++) rate += pi[s] * entropies[s];
  return rate;
}

/** Computes the exact entropy rate, in nats per token, of the bat-call-like source with these parameters. */
export function syntheticEntropyRate(options: Partial<BatCallSourceOptions> = {}): number {
  return entropyRate(buildBatCallSource(options));
}

/**
 * Computes the expected entropy H(x_t | x_<t) of every position t of a
 * sequence that begins in the start state. Their mean over a sequence is
 * the expected cross-entropy of the true source on it, which is what an
 * ideal model scores on short recordings (it differs from the entropy rate
 * because each recording starts in the same state).
 *
 * @param length - number of positions.
 * @returns entropies in nats, one per position.
 */
export function expectedTokenEntropies(source: UnifilarSource, length: number): Float64Array {
  if (!Number.isInteger(length) || length < 0) {
    throw new Error(`length must be an integer >= 0, received ${length}.`);
  }
  const entropies = stateEntropies(source);
  const result = new Float64Array(length);
  let distribution = new Float64Array(source.states.length);
  distribution[source.start] = 1;

  for (let t = 0; t < length; t++) {
    const next = new Float64Array(source.states.length);
    source.states.forEach((state, s) => {
      const mass = distribution[s];
      if (mass === 0) return;
      result[t] += mass * entropies[s];
      for (const transition of state.transitions) next[transition.next] += mass * transition.probability;
    });
    distribution = next;
  }
  return result;
}

/**
 * Draws one token sequence of the given length from the start state.
 *
 * @returns the tokens as an Int32Array.
 */
export function sampleTokens(source: UnifilarSource, rng: Rng, length: number): Int32Array {
  if (!Number.isInteger(length) || length < 0) {
    throw new Error(`length must be an integer >= 0, received ${length}.`);
  }
  const tokens = new Int32Array(length);
  let state = source.start;
  for (let t = 0; t < length; t++) {
    const transitions = source.states[state].transitions;
    const u = rng.uniform();
    let cumulative = 0;
    // Falling through to the last transition absorbs rounding in the cumulative sum.
    let chosen = transitions[transitions.length - 1];
    for (const transition of transitions) {
      cumulative += transition.probability;
      if (u < cumulative) {
        chosen = transition;
        break;
      }
    }
    tokens[t] = chosen.token;
    state = chosen.next;
  }
  return tokens;
}

/**
 * Scores every token of a sequence under the true source, following the
 * one transition that each token selects from the start state.
 *
 * @returns −log P(x_t | x_<t) in nats for every position t.
 * @throws Error when a token is impossible in the state reached at its position.
 */
export function tokenNegativeLogLikelihoods(source: UnifilarSource, tokens: ArrayLike<number>): Float64Array {
  const losses = new Float64Array(tokens.length);
  let state = source.start;
  for (let t = 0; t < tokens.length; t++) {
    const transition = source.states[state].transitions.find((candidate) => candidate.token === tokens[t]);
    if (transition === undefined) {
      throw new Error(`Token ${tokens[t]} at position ${t} is impossible in state "${source.states[state].label}", so the tokens were not drawn from this source.`);
    }
    losses[t] = -Math.log(transition.probability);
    state = transition.next;
  }
  return losses;
}

/**
 * Scores a token sequence under the true source.
 *
 * @returns the total negative log-probability in nats.
 * @throws Error when a token is impossible in the state reached at its position.
 */
export function sequenceNegativeLogLikelihood(source: UnifilarSource, tokens: ArrayLike<number>): number {
  return tokenNegativeLogLikelihoods(source, tokens).reduce((sum, loss) => sum + loss, 0);
}

/** Options of {@link generateSyntheticCorpus}. */
export interface SyntheticCorpusOptions {
  /** Seed of the {@link Rng} that draws lengths and tokens. Default 20240601. */
  seed: number;
  /** Number of sequences (recordings). Default 300. */
  sequences: number;
  /** Minimum sequence length in tokens. Default 40. */
  minLength: number;
  /**
   * Maximum sequence length in tokens. Default 400. Lengths are log-uniform
   * between the two bounds, so about a fifth of the default corpus is
   * shorter than 64 tokens.
   */
  maxLength: number;
  /** Source parameters; missing fields take the defaults. */
  source: Partial<BatCallSourceOptions>;
}

/** Default corpus options: the ones used for data/synthetic-bat-calls. */
export const DEFAULT_SYNTHETIC_CORPUS: SyntheticCorpusOptions = {
  seed: 20240601,
  sequences: 300,
  minLength: 40,
  maxLength: 400,
  source: {},
};

/** A generated corpus: one token sequence per synthetic recording. */
export interface SyntheticCorpus {
  /** The options the corpus was generated with, defaults filled in. */
  options: SyntheticCorpusOptions;
  /** Token sequences, one per synthetic recording. */
  sequences: Int32Array[];
}

/**
 * Generates the SYNTHETIC demo corpus. For each sequence the generator
 * first draws a log-uniform length, then the tokens, both from one
 * {@link Rng} seeded with `options.seed`, so equal options give equal corpora.
 *
 * @example
 * const { sequences } = generateSyntheticCorpus({ sequences: 10, seed: 1 });
 */
export function generateSyntheticCorpus(options: Partial<SyntheticCorpusOptions> = {}): SyntheticCorpus {
  const config: SyntheticCorpusOptions = { ...DEFAULT_SYNTHETIC_CORPUS, ...options };
  validatePositiveInteger(config.sequences, 'sequences');
  validatePositiveInteger(config.minLength, 'minLength');
  validatePositiveInteger(config.maxLength, 'maxLength');
  if (config.maxLength < config.minLength) {
    throw new Error(`maxLength (${config.maxLength}) must be >= minLength (${config.minLength}).`);
  }

  const source = buildBatCallSource(config.source);
  const rng = new Rng(config.seed);
  const logMin = Math.log(config.minLength);
  const logMax = Math.log(config.maxLength + 1);
  const sequences: Int32Array[] = [];

  for (let i = 0; i < config.sequences; i++) {
    const length = Math.min(config.maxLength, Math.floor(Math.exp(logMin + rng.uniform() * (logMax - logMin))));
    sequences.push(sampleTokens(source, rng, length));
  }
  return { options: config, sequences };
}

/** Returns the file name of sequence `index` (0-based): `w2v_kmeans_call_0001.npy` for index 0. */
export function syntheticFileName(index: number): string {
  return `w2v_kmeans_call_${String(index + 1).padStart(4, '0')}.npy`;
}

/**
 * Encodes a 1-D int16 array in the NumPy `.npy` format, version 1.0. The
 * bytes are the magic string, a little-endian header length, a
 * Python-literal header and the little-endian values. The header is padded
 * with spaces and ends in a newline, so that the data start at a multiple of
 * 64 bytes, as NumPy writes it.
 *
 * @throws Error when a value is not an integer in the int16 range.
 */
export function encodeInt16Npy(values: ArrayLike<number>): Uint8Array {
  const dictionary = `{'descr': '<i2', 'fortran_order': False, 'shape': (${values.length},), }`;
  const preambleLength = 10;
  const unpadded = preambleLength + dictionary.length + 1;
  const headerLength = Math.ceil(unpadded / 64) * 64 - preambleLength;
  const header = dictionary.padEnd(headerLength - 1, ' ') + '\n';

  const bytes = new Uint8Array(preambleLength + headerLength + 2 * values.length);
  const view = new DataView(bytes.buffer);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  view.setUint16(8, headerLength, true);
  for (let i = 0; i < header.length; i++) bytes[preambleLength + i] = header.charCodeAt(i);

  const dataOffset = preambleLength + headerLength;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!Number.isInteger(value) || value < -32768 || value > 32767) {
      throw new Error(`Value ${value} at index ${i} does not fit in int16. Keep token ids in [-32768, 32767].`);
    }
    view.setInt16(dataOffset + 2 * i, value, true);
  }
  return bytes;
}

/** Contents of `source.json`: the parameters of a generated corpus and the exact entropy of its source. */
export interface SyntheticCorpusManifest {
  synthetic: true;
  description: string;
  generator: string;
  seed: number;
  sequences: number;
  minLength: number;
  maxLength: number;
  source: BatCallSourceOptions;
  sourceStates: number;
  entropyRate: { natsPerToken: number; bitsPerToken: number; perplexity: number };
  /**
   * Cross-entropy of the true source on this corpus, every token scored
   * given its whole sequence: `realised` on these very tokens, and
   * `expected` over random sequences of the same lengths.
   */
  trueSourceCrossEntropy: {
    realisedNatsPerToken: number;
    realisedBitsPerToken: number;
    expectedNatsPerToken: number;
    expectedBitsPerToken: number;
  };
  tokens: number;
  lengths: { min: number; median: number; max: number; shorterThan64: number };
  files: { folder: string; pattern: string; dtype: string };
}

/** Builds the manifest stored as `source.json` beside the corpus. */
export function syntheticCorpusManifest(corpus: SyntheticCorpus): SyntheticCorpusManifest {
  const source = buildBatCallSource(corpus.options.source);
  const rate = entropyRate(source);
  const lengths = corpus.sequences.map((sequence) => sequence.length);
  const tokens = lengths.reduce((sum, length) => sum + length, 0);

  const realised = corpus.sequences.reduce((sum, sequence) => sum + sequenceNegativeLogLikelihood(source, sequence), 0) / tokens;

  // Σ over sequences of the summed expected entropies of their positions, all from the start state.
  const cumulative = expectedTokenEntropies(source, Math.max(...lengths)).reduce<number[]>((sums, entropy) => {
    sums.push((sums.length > 0 ? sums[sums.length - 1] : 0) + entropy);
    return sums;
  }, []);
  const expected = lengths.reduce((sum, length) => sum + (length > 0 ? cumulative[length - 1] : 0), 0) / tokens;

  const sorted = [...lengths].sort((a, b) => a - b);
  return {
    synthetic: true,
    description:
      'SYNTHETIC bat-call-like token sequences drawn from a unifilar Markov source. They are not recordings of any animal.',
    generator: 'generateSyntheticCorpus in src/data/synthetic.ts',
    seed: corpus.options.seed,
    sequences: corpus.sequences.length,
    minLength: corpus.options.minLength,
    maxLength: corpus.options.maxLength,
    source: { ...DEFAULT_BAT_CALL_SOURCE, ...corpus.options.source },
    sourceStates: source.states.length,
    entropyRate: { natsPerToken: rate, bitsPerToken: rate / Math.LN2, perplexity: Math.exp(rate) },
    trueSourceCrossEntropy: {
      realisedNatsPerToken: realised,
      realisedBitsPerToken: realised / Math.LN2,
      expectedNatsPerToken: expected,
      expectedBitsPerToken: expected / Math.LN2,
    },
    tokens,
    lengths: {
      min: sorted[0],
      median: (sorted[Math.floor((sorted.length - 1) / 2)] + sorted[Math.ceil((sorted.length - 1) / 2)]) / 2,
      max: sorted[sorted.length - 1],
      shorterThan64: lengths.filter((length) => length < 64).length,
    },
    files: { folder: 'tokens/k_means', pattern: 'w2v_kmeans_call_NNNN.npy', dtype: 'int16, 1-D' },
  };
}
