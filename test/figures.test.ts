import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { figureMimeBundle, figureSummary, isTslab, PLOTLY_MIME_TYPE, showFigure } from '../src/report/display.js';
import {
  lossCurvesFigure,
  perplexityAccuracyFigure,
  positionLossFigure,
  tokenHistogramFigure,
  tokenRasterFigure,
  tokenShares,
  type Figure,
  type PlotlyTrace,
} from '../src/report/figures.js';
import { escapeHtml, escapeInlineScript, readPlotlyBundle, renderReportHtml, scriptSafeJson, writeReport } from '../src/report/html.js';
import type { TrainingHistory } from '../src/train/history.js';

function history(): TrainingHistory {
  const trainLoss = [2.5, 2.0, 1.75];
  const valLoss = [2.25, 1.9, 1.95];
  return {
    epochs: [1, 2, 3].map((epoch, i) => ({
      epoch,
      trainLoss: trainLoss[i],
      valLoss: valLoss[i],
      valPerplexity: Math.exp(valLoss[i]),
      valAccuracy: [0.31, 0.42, 0.4][i],
      seconds: 10,
      tokensPerSecond: 1000,
    })),
    steps: [1, 2, 3, 4, 5, 6].map((step) => ({ step, epoch: Math.ceil(step / 2), loss: 3 - step * 0.25, lr: 3e-4 })),
    bestEpoch: 2,
    bestValLoss: 1.9,
  };
}

function trace(figure: Figure, name: string): PlotlyTrace {
  const found = figure.data.find((candidate) => candidate.name === name);
  if (found === undefined) {
    throw new Error(`No trace named "${name}"; traces: ${figure.data.map((candidate) => candidate.name).join(', ')}`);
  }
  return found;
}

function traceStartingWith(figure: Figure, prefix: string): PlotlyTrace {
  const found = figure.data.find((candidate) => candidate.name?.startsWith(prefix));
  if (found === undefined) throw new Error(`No trace whose name starts with "${prefix}"`);
  return found;
}

describe('lossCurvesFigure', () => {
  test('step and epoch traces carry the history values', () => {
    const figure = lossCurvesFigure(history());

    const steps = trace(figure, 'train loss per step');
    expect(steps.x).toEqual([1, 2, 3, 4, 5, 6]);
    expect(steps.y).toEqual([2.75, 2.5, 2.25, 2, 1.75, 1.5]);

    const train = trace(figure, 'train loss per epoch');
    expect(train.x).toEqual([1, 2, 3]);
    expect(train.y).toEqual([2.5, 2.0, 1.75]);

    const val = trace(figure, 'validation loss');
    expect(val.x).toEqual([1, 2, 3]);
    expect(val.y).toEqual([2.25, 1.9, 1.95]);
  });

  test('epoch traces sit on the second subplot', () => {
    const figure = lossCurvesFigure(history());
    expect(trace(figure, 'train loss per step').xaxis).toBe('x');
    expect(trace(figure, 'validation loss').xaxis).toBe('x2');
    expect(trace(figure, 'validation loss').yaxis).toBe('y2');
    const layout = figure.layout as { yaxis: { title: { text: string } }; yaxis2: { title: { text: string } } };
    expect(layout.yaxis.title.text).toContain('nats/token');
    expect(layout.yaxis2.title.text).toContain('nats/token');
  });

  test('kept epoch is marked', () => {
    const marker = traceStartingWith(lossCurvesFigure(history()), 'kept epoch');
    expect(marker.x).toEqual([2]);
    expect(marker.y).toEqual([1.9]);
  });

  test('empty history has no kept-epoch marker', () => {
    const figure = lossCurvesFigure({ epochs: [], steps: [], bestEpoch: 0, bestValLoss: Infinity });
    expect(figure.data.some((candidate) => candidate.name?.startsWith('kept epoch'))).toBe(false);
    expect(trace(figure, 'validation loss').y).toEqual([]);
  });

  test('entropy rate line spans both subplots', () => {
    const figure = lossCurvesFigure(history(), { entropyRate: 0.868 });
    const lines = figure.data.filter((candidate) => candidate.name?.startsWith('entropy rate'));
    expect(lines).toHaveLength(2);
    expect(lines[0].y).toEqual([0.868, 0.868]);
    expect(lines[0].x).toEqual([1, 6]);
    expect(lines[1].x).toEqual([1, 3]);
    expect(lines[1].xaxis).toBe('x2');
  });

  test('non-finite entropy rate is rejected', () => {
    expect(() => lossCurvesFigure(history(), { entropyRate: Number.NaN })).toThrow(/entropyRate must be a finite number/);
  });
});

describe('perplexityAccuracyFigure', () => {
  const baselines = {
    unigramCE: 4.319,
    bigramCE: 1.641,
    bigramAccuracy: 0.524,
    trigramCE: 1.504,
    trigramAccuracy: 0.559,
    repeatAccuracy: 0.512,
  };

  test('model traces carry perplexity and accuracy', () => {
    const figure = perplexityAccuracyFigure(history());
    const perplexity = trace(figure, 'validation perplexity');
    expect(perplexity.x).toEqual([1, 2, 3]);
    expect(perplexity.y).toEqual([Math.exp(2.25), Math.exp(1.9), Math.exp(1.95)]);
    const accuracy = trace(figure, 'validation accuracy');
    expect(accuracy.y).toEqual([0.31, 0.42, 0.4]);
    expect(accuracy.xaxis).toBe('x2');
    expect(figure.data).toHaveLength(2);
  });

  test('perplexity baselines sit at e^CE', () => {
    const figure = perplexityAccuracyFigure(history(), baselines);
    const cases: [string, number][] = [
      ['unigram perplexity', 4.319],
      ['bigram perplexity', 1.641],
      ['trigram perplexity', 1.504],
    ];
    for (const [prefix, crossEntropy] of cases) {
      const line = traceStartingWith(figure, prefix);
      expect(line.y).toEqual([Math.exp(crossEntropy), Math.exp(crossEntropy)]);
      expect(line.x).toEqual([1, 3]);
      expect(line.yaxis).toBe('y');
    }
  });

  test('accuracy baselines sit at their values', () => {
    const figure = perplexityAccuracyFigure(history(), baselines);
    const cases: [string, number][] = [
      ['bigram accuracy', 0.524],
      ['trigram accuracy', 0.559],
      ['repeat previous accuracy', 0.512],
    ];
    for (const [prefix, accuracy] of cases) {
      const line = traceStartingWith(figure, prefix);
      expect(line.y).toEqual([accuracy, accuracy]);
      expect(line.yaxis).toBe('y2');
    }
  });

  test('missing or non-finite baselines are left out', () => {
    const figure = perplexityAccuracyFigure(history(), { bigramCE: 1.6, trigramCE: Number.NaN });
    const names = figure.data.map((candidate) => candidate.name ?? '');
    expect(names.filter((name) => name.includes('perplexity ') && !name.startsWith('validation'))).toEqual([`bigram perplexity ${Math.exp(1.6).toFixed(2)}`]);
    expect(names.some((name) => name.includes('accuracy ') && !name.startsWith('validation'))).toBe(false);
  });

  test('single epoch widens the baseline span', () => {
    const single = history();
    single.epochs = single.epochs.slice(0, 1);
    const line = traceStartingWith(perplexityAccuracyFigure(single, { unigramCE: 1 }), 'unigram');
    expect(line.x).toEqual([0.5, 1.5]);
  });
});

describe('tokenHistogramFigure', () => {
  test('shares match hand counts', () => {
    const train = [Int32Array.from([0, 1, 1, 3]), Int32Array.from([3, 3])];
    const val = [Int32Array.from([2, 2, 0, 1])];
    const generated = [Int32Array.from([1])];
    const figure = tokenHistogramFigure({ train, val, generated }, 4);

    expect(figure.data.map((candidate) => candidate.name)).toEqual(['train', 'validation', 'generated']);
    expect(trace(figure, 'train').x).toEqual([0, 1, 2, 3]);
    expect(trace(figure, 'train').y).toEqual([1 / 6, 2 / 6, 0, 3 / 6]);
    expect(trace(figure, 'validation').y).toEqual([0.25, 0.25, 0.5, 0]);
    expect(trace(figure, 'generated').y).toEqual([0, 1, 0, 0]);
  });

  test('shares sum to 1', () => {
    const sequences = [Int32Array.from([5, 7, 7, 9, 0, 0, 1]), Int32Array.from([9, 9, 2])];
    const shares = tokenShares(sequences, 10);
    expect(shares.reduce((sum, share) => sum + share, 0)).toBeCloseTo(1, 12);
    expect(shares[9]).toBeCloseTo(3 / 10, 15);
  });

  test('generated split is optional', () => {
    const figure = tokenHistogramFigure({ train: [[0, 1]], val: [[1]] }, 2);
    expect(figure.data).toHaveLength(2);
  });

  test('token outside the vocabulary is rejected', () => {
    expect(() => tokenHistogramFigure({ train: [[0, 4]], val: [[1]] }, 4)).toThrow(/Token 4 at position 1 of train sequence 0 is outside \[0, 4\)/);
  });

  test('split without tokens is rejected', () => {
    expect(() => tokenHistogramFigure({ train: [[0]], val: [new Int32Array(0)] }, 4)).toThrow(/validation has no tokens/);
  });

  test('invalid vocabulary size is rejected', () => {
    expect(() => tokenHistogramFigure({ train: [[0]], val: [[0]] }, 0)).toThrow(/vocabSize must be a positive integer/);
  });
});

describe('tokenRasterFigure', () => {
  test('frames on the x axis by default', () => {
    const figure = tokenRasterFigure([4, 4, 9], Int32Array.from([1, 2]));
    expect(trace(figure, 'prompt').x).toEqual([0, 1, 2]);
    expect(trace(figure, 'prompt').y).toEqual([4, 4, 9]);
    expect(trace(figure, 'continuation').x).toEqual([3, 4]);
    expect(trace(figure, 'continuation').y).toEqual([1, 2]);

    const [boundary] = (figure.layout as { shapes: { x0: number; x1: number }[] }).shapes;
    expect(boundary.x0).toBe(3);
    expect(boundary.x1).toBe(3);
  });

  test('seconds on the x axis with a frame rate', () => {
    const figure = tokenRasterFigure([4, 4], [1, 2, 3], { frameRateHz: 50 });
    expect(trace(figure, 'prompt').x).toEqual([0, 1 / 50]);
    expect(trace(figure, 'continuation').x).toEqual([2 / 50, 3 / 50, 4 / 50]);
    const layout = figure.layout as { shapes: { x0: number }[]; xaxis: { title: { text: string } } };
    expect(layout.shapes[0].x0).toBe(2 / 50);
    expect(layout.xaxis.title.text).toBe('time (s)');
  });

  test('prompt and continuation differ in colour', () => {
    const figure = tokenRasterFigure([1], [2]);
    const colour = (name: string) => (trace(figure, name).marker as { color: string }).color;
    expect(colour('prompt')).not.toBe(colour('continuation'));
  });

  test('invalid frame rate is rejected', () => {
    expect(() => tokenRasterFigure([1], [2], { frameRateHz: 0 })).toThrow(/frameRateHz must be a positive number/);
  });
});

describe('positionLossFigure', () => {
  test('positions start at 1', () => {
    const figure = positionLossFigure(Float32Array.from([3, 2.5, 2.25]));
    expect(figure.data[0].x).toEqual([1, 2, 3]);
    expect(figure.data[0].y).toEqual([3, 2.5, 2.25]);
    expect(Array.isArray(figure.data[0].y)).toBe(true);
  });
});

function figureDataScripts(html: string): { target: string; json: string }[] {
  const pattern = /<script type="application\/json" class="figure-data" data-target="([^"]+)">([\s\S]*?)<\/script>/g;
  return [...html.matchAll(pattern)].map((match) => ({ target: match[1], json: match[2] }));
}

describe('renderReportHtml', () => {
  const loss = lossCurvesFigure(history());
  const raster = tokenRasterFigure([1, 2], [3]);
  const report = {
    title: 'Run <7> & "friends"',
    sections: [
      { heading: 'Loss', text: 'First paragraph.\n\nSecond <b>paragraph</b>.', figure: loss },
      {
        heading: 'Metrics',
        table: {
          columns: ['epoch', 'val loss', 'note'],
          rows: [
            [1, 2.254321, '<ok>'],
            [2, 1.9, null],
          ],
        },
      },
      { heading: 'Sample', figure: raster },
    ],
  };

  test('inlines the plotly bundle and loads nothing remote', () => {
    const html = renderReportHtml(report);
    // The bundle goes in escaped, so that no `</script` or `<!--` inside it ends or hides the element.
    expect(html).toContain(escapeInlineScript(readPlotlyBundle()));
    expect(html).not.toMatch(/<script[^>]*\ssrc=/);
    expect(html).not.toMatch(/<link[^>]*\shref=/);
  });

  test('one div and one valid JSON per figure', () => {
    const html = renderReportHtml(report);
    const scripts = figureDataScripts(html);
    expect(scripts.map((script) => script.target)).toEqual(['figure-1', 'figure-2']);
    expect(html.match(/<div class="figure" id="figure-\d+"/g)).toHaveLength(2);
    expect(html).toContain('<div class="figure" id="figure-1" style="height: 640px"></div>');
    expect(JSON.parse(scripts[0].json)).toEqual(JSON.parse(JSON.stringify(loss)));
    expect(JSON.parse(scripts[1].json)).toEqual(JSON.parse(JSON.stringify(raster)));
  });

  test('escapes title, text and cells', () => {
    const html = renderReportHtml(report);
    expect(html).toContain('<title>Run &lt;7&gt; &amp; &quot;friends&quot;</title>');
    expect(html).toContain('<p>Second &lt;b&gt;paragraph&lt;/b&gt;.</p>');
    expect(html).toContain('<td>&lt;ok&gt;</td>');
    expect(html).not.toContain('<b>paragraph</b>');
  });

  test('numbers in tables use 4 significant digits', () => {
    const html = renderReportHtml(report);
    expect(html).toContain('<td class="number">2.254</td>');
    expect(html).toContain('<td class="number">1</td>');
  });

  test('figure text cannot close its script element', () => {
    const figure: Figure = { data: [{ type: 'scatter', name: '</script><script>alert(1)</script>', x: [1], y: [1] }], layout: {} };
    const html = renderReportHtml({ title: 'x', sections: [{ heading: 'h', figure }] });
    const [script] = figureDataScripts(html);
    expect(script.json).not.toContain('</script');
    expect((JSON.parse(script.json) as Figure).data[0].name).toBe('</script><script>alert(1)</script>');
  });

  test('table row of the wrong width is rejected', () => {
    const bad = { title: 't', sections: [{ heading: 'Bad table', table: { columns: ['a', 'b'], rows: [['1']] } }] };
    expect(() => renderReportHtml(bad)).toThrow(/Row 0 of the table in section "Bad table" has 1 cells but the table has 2 columns/);
  });

  test('missing title is rejected', () => {
    expect(() => renderReportHtml({ title: ' ', sections: [] })).toThrow(/Report title is missing/);
  });
});

describe('writeReport', () => {
  test('writes the rendered report and no temporary file', () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'acoustic-lm-report-'));
    try {
      const report = { title: 'Small', sections: [{ heading: 'Loss', figure: positionLossFigure([2, 1]) }] };
      const written = writeReport(path.join(folder, 'report.html'), report);
      expect(written).toBe(path.join(folder, 'report.html'));
      expect(fs.readFileSync(written, 'utf8')).toBe(renderReportHtml(report));
      expect(fs.readdirSync(folder)).toEqual(['report.html']);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });

  test('missing folder gives a clear error', () => {
    const target = path.join(os.tmpdir(), 'acoustic-lm-no-such-folder', 'nested', 'report.html');
    expect(() => writeReport(target, { title: 't', sections: [] })).toThrow(/Failed to write the report .*report\.html/);
  });
});

describe('html helpers', () => {
  test('escapeHtml escapes the five special characters', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  test('scriptSafeJson round-trips through JSON.parse', () => {
    const value = { text: '<\u2028>&\u2029', values: [1, 2.5] };
    const json = scriptSafeJson(value);
    expect(json).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(json)).toEqual(value);
  });
});

interface DisplayMessage {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  transient: Record<string, unknown>;
}

describe('showFigure', () => {
  const PLOTLY_SENT = Symbol.for('acoustic-lm.report.plotlySentToNotebook');
  const global = globalThis as Record<string | symbol, unknown>;

  afterEach(() => {
    delete global.__tslab__;
    delete global[PLOTLY_SENT];
  });

  // A stand-in for a tslab kernel: its `require` exposes a module cache holding tslab's Jupyter module.
  function fakeKernel(): DisplayMessage[] {
    const messages: DisplayMessage[] = [];
    const kernelRequire = Object.assign(() => undefined, {
      cache: {
        '/opt/kernel/node_modules/tslab/dist/jupyter.js': {
          exports: { lastWriteDisplayData: (message: DisplayMessage) => messages.push(message) },
        },
      },
    });
    global.__tslab__ = { require: kernelRequire };
    return messages;
  }

  test('does nothing outside tslab', () => {
    expect(isTslab()).toBe(false);
    expect(showFigure(positionLossFigure([1]))).toBeUndefined();
  });

  test('sends one MIME bundle per figure inside tslab', () => {
    const messages = fakeKernel();
    const figure = positionLossFigure([2, 1]);
    showFigure(figure);

    expect(isTslab()).toBe(true);
    expect(messages).toHaveLength(1);
    const data = messages[0].data;
    expect(Object.keys(data).sort()).toEqual([PLOTLY_MIME_TYPE, 'text/html', 'text/plain'].sort());
    expect(data[PLOTLY_MIME_TYPE]).toMatchObject({ data: figure.data, layout: figure.layout });
    expect(data['text/plain']).toBe('<plotly figure "Validation loss by context length" with 1 trace>');
  });

  test('plotly bundle goes out with the first figure only', () => {
    const messages = fakeKernel();
    const bundle = escapeInlineScript(readPlotlyBundle());
    showFigure(positionLossFigure([2, 1]));
    showFigure(positionLossFigure([3, 1]));
    showFigure(positionLossFigure([4, 1]), { includePlotly: 'always' });

    const html = messages.map((message) => message.data['text/html'] as string);
    expect(html[0]).toContain(bundle);
    expect(html[1]).not.toContain(bundle);
    expect(html[1]).toContain('window.Plotly.newPlot');
    expect(html[2]).toContain(bundle);
  });

  test('falls back to tslab display.html without the internal writer', () => {
    const displayedHtml: string[] = [];
    const kernelRequire = Object.assign((id: string) => (id === 'tslab' ? { display: { html: (html: string) => displayedHtml.push(html) } } : undefined), {
      cache: {},
    });
    global.__tslab__ = { require: kernelRequire };

    showFigure(positionLossFigure([2, 1]));
    expect(displayedHtml).toHaveLength(1);
    expect(displayedHtml[0]).toContain('window.Plotly.newPlot');
  });
});

describe('figureMimeBundle', () => {
  test('HTML draws into its own div with the figure JSON', () => {
    const figure = tokenRasterFigure([1], [2]);
    const bundle = figureMimeBundle(figure, { divId: 'plot-7' });
    const html = bundle['text/html'] as string;
    expect(html).toContain('<div id="plot-7" style="width: 100%; height: 450px;"></div>');
    expect(html).toContain(`var figure = ${scriptSafeJson(figure)};`);
    expect(html).not.toContain('plotly.js v');
    expect(figureSummary(figure)).toBe('<plotly figure "Prompt and continuation" with 2 traces>');
  });
});
