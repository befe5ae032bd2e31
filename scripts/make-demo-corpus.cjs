// Writes the SYNTHETIC demo corpus data/synthetic-bat-calls: one int16 .npy
// file per sequence, source.json with the parameters and the exact entropy
// rate, and a README generated from the same numbers.
//
// Usage, from the repository root:
//   npm run build && node scripts/make-demo-corpus.cjs [output-folder]
// The default output folder is data/synthetic-bat-calls. The corpus depends
// only on the options in src/data/synthetic.ts, so rerunning rewrites
// byte-identical files.
const fs = require('node:fs');
const path = require('node:path');

const synthetic = require('../dist/cjs/data/synthetic.js');

const output = path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'data', 'synthetic-bat-calls'));
const tokenFolder = path.join(output, 'tokens', 'k_means');

const corpus = synthetic.generateSyntheticCorpus();
const manifest = synthetic.syntheticCorpusManifest(corpus);

fs.mkdirSync(tokenFolder, { recursive: true });
const written = new Set();
corpus.sequences.forEach((sequence, index) => {
  const name = synthetic.syntheticFileName(index);
  fs.writeFileSync(path.join(tokenFolder, name), synthetic.encodeInt16Npy(sequence));
  written.add(name);
});

// Files of an earlier, larger corpus would otherwise stay behind and be read as part of this one.
for (const name of fs.readdirSync(tokenFolder)) {
  if (/^w2v_kmeans_call_\d{4}\.npy$/.test(name) && !written.has(name)) {
    fs.rmSync(path.join(tokenFolder, name));
  }
}

fs.writeFileSync(path.join(output, 'source.json'), JSON.stringify(manifest, null, 2) + '\n');
fs.writeFileSync(path.join(output, 'README.md'), renderReadme(manifest));

const bytes = fs.readdirSync(tokenFolder).reduce((sum, name) => sum + fs.statSync(path.join(tokenFolder, name)).size, 0);
console.log(
  `Wrote ${corpus.sequences.length} SYNTHETIC sequences (${manifest.tokens} tokens, ${bytes} bytes of .npy) to ${output}; ` +
    `entropy rate ${manifest.entropyRate.natsPerToken.toFixed(6)} nats/token.`,
);

function renderReadme(m) {
  const s = m.source;
  const rate = m.entropyRate;
  const ce = m.trueSourceCrossEntropy;
  const syllableRows = s.syllables.map((syllable) => {
    const positions = syllable.positions
      .map((position) => {
        const weights = position.weights ? ` (${position.weights.join(' / ')})` : '';
        return `${position.units.join(' or ')}${weights}, hold ${position.hold}`;
      })
      .join('; ');
    const next = Object.entries(syllable.next)
      .map(([name, weight]) => `${name} ${weight}`)
      .join(', ');
    return `| ${syllable.name} | ${positions} | ${next} |`;
  });
  const owners = new Map();
  for (const syllable of s.syllables) {
    for (const unit of new Set(syllable.positions.flatMap((position) => position.units))) {
      owners.set(unit, (owners.get(unit) ?? 0) + 1);
    }
  }
  const shared = [...owners]
    .filter(([, count]) => count > 1)
    .map(([unit]) => unit)
    .sort((a, b) => a - b);
  const sharedText =
    shared.length > 0
      ? `Units ${shared.join(', ')} occur in more than one syllable type, so predicting what follows\n  them needs the onset further back.`
      : 'No unit occurs in more than one syllable type.';
  const first = Object.entries(s.firstSyllableWeights)
    .map(([name, weight]) => `${name} ${weight}`)
    .join(', ');

  return `# SYNTHETIC bat-call-like token corpus

**SYNTHETIC DATA.** These sequences were drawn from a small stochastic source
written for this project. They are not recordings of bats or of any other
animal, and no audio exists for them. They mimic the shape of k-means unit
sequences of call recordings, so that the library can be tried and tested
on a corpus whose best possible score is known exactly.

## Contents

| item | value |
|---|---|
| sequences (SYNTHETIC recordings) | ${m.sequences} |
| tokens | ${m.tokens} |
| length min / median / max | ${m.lengths.min} / ${m.lengths.median} / ${m.lengths.max} |
| sequences shorter than 64 tokens | ${m.lengths.shorterThan64} |
| vocabulary | ${s.vocabSize} units (ids 0–${s.vocabSize - 1}) |
| files | \`tokens/k_means/w2v_kmeans_call_0001.npy\` … one per sequence, int16, 1-D, NumPy .npy version 1.0 |
| seed | ${m.seed} |

Lengths are drawn log-uniformly between ${m.minLength} and ${m.maxLength} tokens.
\`source.json\` holds every parameter and the numbers below at full precision.

## Exact entropy rate

| quantity | nats/token | bits/token |
|---|---|---|
| entropy rate of the SYNTHETIC source | ${rate.natsPerToken.toFixed(6)} | ${rate.bitsPerToken.toFixed(6)} |
| cross-entropy of the true source on these ${m.tokens} tokens | ${ce.realisedNatsPerToken.toFixed(6)} | ${ce.realisedBitsPerToken.toFixed(6)} |
| its expectation over random sequences of the same lengths | ${ce.expectedNatsPerToken.toFixed(6)} | ${ce.expectedBitsPerToken.toFixed(6)} |

The entropy rate corresponds to a perplexity of ${rate.perplexity.toFixed(4)}. On long
sequences no model can score below it in expectation. The recordings here are
short and all start in the same state, so compare a model with the second row
instead. It is the cross-entropy of the true source itself on this corpus, every
token given its whole recording from the first token. A model given only a
window of recent tokens can land slightly above it. To score a subset, such as a validation split, sum
\`sequenceNegativeLogLikelihood(buildBatCallSource(), tokens)\` over its
sequences and divide by their token count.

## The source

The source is a unifilar Markov source with ${m.sourceStates} states: every transition emits
one token and the next state follows from the current state and that token, so
the tokens so far identify the state. Its entropy rate is therefore
Σ_s π(s) · H(next token | s), with π the stationary distribution, computed by
solving πP = π exactly (residual below 1e-12). The states are:

- silence: unit ${s.silenceUnit} repeats with probability ${s.silenceHold} per token, for at most
  ${s.maxSilenceRun} tokens. When it ends, a syllable starts, chosen with weights ${first}.
- syllables: a syllable emits its positions in order. At each position one of the
  listed units is chosen (weights in brackets) and repeats with the position's
  hold probability, for at most ${s.maxRun} tokens in a row. The first position is the
  onset. ${sharedText}
- after a syllable: silence follows with probability ${s.pauseProbability}; otherwise the next
  syllable starts at once, chosen with the weights in the last column.

Every sequence starts as if one silence token had just been emitted.

| syllable | positions (unit or alternatives, hold probability) | next syllable without silence |
|---|---|---|
${syllableRows.join('\n')}

## Regenerating

From the repository root:

\`\`\`
npm run build && node scripts/make-demo-corpus.cjs
\`\`\`

The generator is \`generateSyntheticCorpus\` in \`src/data/synthetic.ts\`, seeded
with ${m.seed}; \`syntheticEntropyRate\` returns the entropy rate. Rerunning writes
byte-identical files, which \`test/synthetic.test.ts\` checks.
`;
}
