/**
 * Inline display of plotly figures in tslab notebooks.
 *
 * A figure goes out as one Jupyter display_data message whose MIME bundle
 * carries three representations:
 * - `application/vnd.plotly.v1+json`: the figure itself, for front ends with
 *   a plotly renderer (JupyterLab with the plotly extension).
 * - `text/html`: a div and a script that draw the figure with plotly.js, for
 *   the classic Notebook, `jupyter nbconvert` and JupyterLab without the
 *   extension. The first figure of a kernel also carries the whole plotly.js
 *   bundle, read from the npm package (no CDN), which sets `window.Plotly`.
 *   Later figures use that global.
 * - `text/plain`: a one-line summary.
 *
 * Outside a tslab kernel nothing is displayed.
 */

import { randomUUID } from 'node:crypto';

import type { Figure } from './figures.js';
import { escapeInlineScript, readPlotlyBundle, scriptSafeJson, type PlotlyBundleOptions } from './html.js';

/** Options of {@link showFigure}. */
export interface ShowFigureOptions extends PlotlyBundleOptions {
  /**
   * When the HTML output carries the plotly.js bundle. `'once'` (default):
   * only in the first figure of the kernel, which keeps notebooks small but
   * means that figures drawn from saved outputs need that first output to
   * be present. `'always'`: in every figure, so each output is self-contained.
   */
  includePlotly?: 'once' | 'always';
}

/** A Jupyter MIME bundle: representations of one output keyed by MIME type. */
export type MimeBundle = Record<string, unknown>;

/** MIME type of plotly figures in Jupyter. */
export const PLOTLY_MIME_TYPE = 'application/vnd.plotly.v1+json';

/** Options of {@link figureMimeBundle}. */
export interface FigureMimeBundleOptions extends PlotlyBundleOptions {
  /** Whether the HTML representation carries the plotly.js bundle. Default false. */
  includePlotly?: boolean;
  /** Id of the div the HTML draws into. Default: a random id. */
  divId?: string;
}

// Kept on globalThis so that it survives tslab reloading this module when a cell is re-run.
const PLOTLY_SENT = Symbol.for('acoustic-lm.report.plotlySentToNotebook');

/** The `globalThis.__tslab__` object of a tslab kernel, with the `require` function of notebook cells. */
interface TslabHost {
  require: NodeRequire;
}

/** The display_data writer inside tslab's Jupyter module (not part of tslab's public API). */
type WriteDisplayData = (content: { data: MimeBundle; metadata: Record<string, unknown>; transient: Record<string, unknown> }, update: boolean) => void;

/** The public display API of tslab. */
interface TslabDisplay {
  html(html: string): void;
}

/**
 * Builds the MIME bundle that displays a figure in Jupyter.
 *
 * @returns `application/vnd.plotly.v1+json`, `text/html` and `text/plain` representations.
 */
export function figureMimeBundle(figure: Figure, options: FigureMimeBundleOptions = {}): MimeBundle {
  const divId = options.divId ?? `acoustic-lm-figure-${randomUUID()}`;
  const height = typeof figure.layout.height === 'number' ? figure.layout.height : 450;
  const bundleScript = options.includePlotly ? `<script>${escapeInlineScript(readPlotlyBundle(options))}</script>\n` : '';

  // The fallback message shows when a saved output is opened without the output that loaded plotly.js.
  const drawScript = `(function () {
  var element = document.getElementById(${scriptSafeJson(divId)});
  var figure = ${scriptSafeJson(figure)};
  if (window.Plotly) {
    window.Plotly.newPlot(element, figure.data, figure.layout, { responsive: true, displaylogo: false });
  } else {
    element.textContent = 'plotly.js is not loaded on this page. Re-run the notebook from the top: the first figure loads it.';
  }
})();`;

  return {
    [PLOTLY_MIME_TYPE]: { data: figure.data, layout: figure.layout, config: { responsive: true, displaylogo: false } },
    'text/html': `${bundleScript}<div id="${divId}" style="width: 100%; height: ${height}px;"></div>\n<script>${drawScript}</script>`,
    'text/plain': figureSummary(figure),
  };
}

/** Returns a one-line description of a figure: its title and trace count. */
export function figureSummary(figure: Figure): string {
  const title = (figure.layout.title as { text?: unknown } | undefined)?.text;
  const name = typeof title === 'string' ? title : 'untitled';
  return `<plotly figure "${name}" with ${figure.data.length} trace${figure.data.length === 1 ? '' : 's'}>`;
}

/** Returns whether this code runs inside a tslab kernel. */
export function isTslab(): boolean {
  return tslabHost() !== undefined;
}

/**
 * Displays a figure inline when running in a tslab kernel, as one output
 * with the MIME bundle of {@link figureMimeBundle}. If tslab's internal
 * display writer cannot be found (a tslab release other than 1.0), it
 * falls back to tslab's public `display.html`, which sends the HTML only.
 * Outside tslab it does nothing.
 *
 * It returns nothing because tslab prints the value of a cell's last
 * expression, which would put the figure's whole JSON under the plot.
 *
 * @example
 * const figure = lossCurvesFigure(history);
 * showFigure(figure);
 */
export function showFigure(figure: Figure, options: ShowFigureOptions = {}): void {
  const host = tslabHost();
  if (host === undefined) return;

  const registry = globalThis as Record<symbol, unknown>;
  const includePlotly = options.includePlotly === 'always' || registry[PLOTLY_SENT] !== true;
  const bundle = figureMimeBundle(figure, { ...options, includePlotly });

  const write = findDisplayWriter(host);
  if (write !== undefined) {
    write({ data: bundle, metadata: {}, transient: {} }, false);
  } else {
    const tslab = host.require('tslab') as { display: TslabDisplay };
    tslab.display.html(bundle['text/html'] as string);
  }

  if (includePlotly) registry[PLOTLY_SENT] = true;
}

function tslabHost(): TslabHost | undefined {
  const host = (globalThis as { __tslab__?: Partial<TslabHost> }).__tslab__;
  return host !== undefined && typeof host.require === 'function' ? (host as TslabHost) : undefined;
}

/**
 * Finds the display_data writer of the running kernel. tslab 1.0 stores the
 * writer of the executing cell as `lastWriteDisplayData` in
 * `tslab/dist/jupyter.js` but only lets its public API send one MIME type
 * per output, so the writer is looked up in the module cache. Only the
 * kernel's own copy of that module has the writer set.
 */
function findDisplayWriter(host: TslabHost): WriteDisplayData | undefined {
  const cache = host.require.cache ?? {};
  for (const [file, loaded] of Object.entries(cache)) {
    if (!/[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(file)) continue;
    const writer = (loaded?.exports as { lastWriteDisplayData?: unknown } | undefined)?.lastWriteDisplayData;
    if (typeof writer === 'function') return writer as WriteDisplayData;
  }
  return undefined;
}
