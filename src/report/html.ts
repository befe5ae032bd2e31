/**
 * Standalone HTML reports: one file with headings, text, tables and plotly
 * figures, with the plotly.js bundle from the npm package inlined, so the
 * report opens and draws offline.
 */

import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

import type { Figure } from './figures.js';

/** A table of a report section. */
export interface ReportTable {
  /** Column headings, as plain text. */
  columns: string[];
  /** One array per row, one cell per column. Non-integer numbers are shown with 4 significant digits; pass strings for other formats. */
  rows: (string | number | null)[][];
}

/** One section of a report, drawn in the order heading, text, figure, table. */
export interface ReportSection {
  /** Section heading, as plain text. */
  heading: string;
  /** Plain text, in paragraphs separated by blank lines. HTML in it is escaped, not interpreted. */
  text?: string;
  /** Plotly figure drawn below the text. */
  figure?: Figure;
  /** Table drawn below the figure. */
  table?: ReportTable;
}

/** A report: a title and its sections. */
export interface Report {
  /** Page title and top heading, as plain text. */
  title: string;
  /** Sections in page order. */
  sections: ReportSection[];
}

/** Options shared by everything that embeds plotly.js. */
export interface PlotlyBundleOptions {
  /**
   * Path of the plotly.js bundle to inline. Default: the first of
   * `plotly.js-dist-min/plotly.min.js`, `plotly.js-dist/plotly.min.js` and
   * `plotly.js-dist/plotly.js` that resolves from this module.
   */
  plotlyBundlePath?: string;
}

// plotly.js-dist 4.1 ships only the unminified plotly.js (about 10 MB), so the minified bundles come first.
const BUNDLE_CANDIDATES = ['plotly.js-dist-min/plotly.min.js', 'plotly.js-dist/plotly.min.js', 'plotly.js-dist/plotly.js'];

const bundleCache = new Map<string, string>();

/**
 * Finds the plotly.js bundle on disk.
 *
 * @returns the absolute path of the first candidate bundle that resolves.
 * @throws Error listing the candidates when none is installed.
 */
export function resolvePlotlyBundle(): string {
  // The CommonJS build has `require`. The ES module build has none and resolves from the working directory.
  const resolver = typeof require === 'function' ? require : createRequire(path.join(process.cwd(), 'index.js'));
  for (const candidate of BUNDLE_CANDIDATES) {
    try {
      return resolver.resolve(candidate);
    } catch {
      // Not installed, so try the next candidate.
    }
  }
  throw new Error(
    `No plotly.js bundle found (tried ${BUNDLE_CANDIDATES.join(', ')}). ` + 'Install plotly.js-dist, or pass plotlyBundlePath with the path of plotly.min.js.',
  );
}

/**
 * Reads the plotly.js bundle, once per path and process.
 *
 * @throws Error naming the path when the file cannot be read.
 */
export function readPlotlyBundle(options: PlotlyBundleOptions = {}): string {
  const bundlePath = options.plotlyBundlePath ?? resolvePlotlyBundle();
  let bundle = bundleCache.get(bundlePath);
  if (bundle === undefined) {
    try {
      bundle = fs.readFileSync(bundlePath, 'utf8');
    } catch (error) {
      throw new Error(`Failed to read the plotly.js bundle at ${bundlePath}: ${(error as Error).message}. Check plotlyBundlePath.`, { cause: error });
    }
    bundleCache.set(bundlePath, bundle);
  }
  return bundle;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/**
 * Makes JavaScript safe to place inside a `<script>` element: a literal
 * `</script` or `<!--` would end or confuse the element in the HTML parser.
 * Both can only occur in strings, regular expressions or comments, where
 * `<\/` and `<\!` mean the same characters.
 */
export function escapeInlineScript(source: string): string {
  return source.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/**
 * Serialises a value as JSON that is safe inside a `<script>` element:
 * `<`, `>`, `&`, U+2028 and U+2029 become `\u` escapes, which JSON.parse
 * and JavaScript read back unchanged. NaN and ±Infinity become null, as in
 * JSON.stringify, and plotly draws null as a gap.
 */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const STYLE = `
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.figure { width: 100%; min-height: 450px; }
table { border-collapse: collapse; margin: 12px 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; }
th { background: #f4f4f4; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
`;

// Draws every figure from its JSON element once plotly.js has loaded.
const DRAW_SCRIPT = `
for (const node of document.querySelectorAll('script.figure-data')) {
  const figure = JSON.parse(node.textContent);
  Plotly.newPlot(node.dataset.target, figure.data, figure.layout, { responsive: true, displaylogo: false });
}
`;

/**
 * Renders a report as one standalone HTML page with plotly.js inlined.
 * Every text is escaped. Each figure gets a `<div class="figure">` and a
 * `<script type="application/json" class="figure-data">` with its JSON,
 * drawn by one script at the end of the page.
 *
 * @returns the HTML text. With the unminified plotly.js of plotly.js-dist 4.1 it is about 10 MB.
 * @throws Error when the title or a heading is missing or a table row has the wrong number of cells.
 *
 * @example
 * const html = renderReportHtml({ title: 'Run 7', sections: [{ heading: 'Loss', figure: lossCurvesFigure(history) }] });
 */
export function renderReportHtml(report: Report, options: PlotlyBundleOptions = {}): string {
  if (typeof report.title !== 'string' || report.title.trim() === '') {
    throw new Error('Report title is missing. Pass a non-empty title.');
  }
  const bundle = readPlotlyBundle(options);

  let figureCount = 0;
  const sections = report.sections.map((section, index) => {
    if (typeof section.heading !== 'string' || section.heading.trim() === '') {
      throw new Error(`Report section ${index} has no heading. Give every section a non-empty heading.`);
    }
    const parts = [`<h2>${escapeHtml(section.heading)}</h2>`];
    if (section.text !== undefined) parts.push(renderText(section.text));
    if (section.figure !== undefined) {
      figureCount += 1;
      parts.push(renderFigurePlaceholder(section.figure, `figure-${figureCount}`));
    }
    if (section.table !== undefined) parts.push(renderTable(section.table, section.heading));
    return `<section>\n${parts.join('\n')}\n</section>`;
  });

  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(report.title)}</title>`,
    `<style>${STYLE}</style>`,
    `<script>${escapeInlineScript(bundle)}</script>`,
    '</head>',
    '<body>',
    '<main>',
    `<h1>${escapeHtml(report.title)}</h1>`,
    ...sections,
    '</main>',
    `<script>${DRAW_SCRIPT}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function renderText(text: string): string {
  return text
    .split(/\n\s*\n/)
    .map((paragraph) => paragraph.trim())
    .filter((paragraph) => paragraph !== '')
    .map((paragraph) => `<p>${escapeHtml(paragraph)}</p>`)
    .join('\n');
}

function renderFigurePlaceholder(figure: Figure, id: string): string {
  const height = typeof figure.layout.height === 'number' ? ` style="height: ${figure.layout.height}px"` : '';
  return [
    `<div class="figure" id="${id}"${height}></div>`,
    `<script type="application/json" class="figure-data" data-target="${id}">${scriptSafeJson(figure)}</script>`,
  ].join('\n');
}

function renderTable(table: ReportTable, heading: string): string {
  const header = `<tr>${table.columns.map((column) => `<th>${escapeHtml(column)}</th>`).join('')}</tr>`;
  const rows = table.rows.map((row, r) => {
    if (row.length !== table.columns.length) {
      throw new Error(`Row ${r} of the table in section "${heading}" has ${row.length} cells but the table has ${table.columns.length} columns.`);
    }
    return `<tr>${row.map(renderCell).join('')}</tr>`;
  });
  return `<table>\n<thead>${header}</thead>\n<tbody>\n${rows.join('\n')}\n</tbody>\n</table>`;
}

function renderCell(cell: string | number | null): string {
  if (cell === null) return '<td></td>';
  if (typeof cell === 'number') {
    const formatted = Number.isInteger(cell) || !Number.isFinite(cell) ? String(cell) : String(Number(cell.toPrecision(4)));
    return `<td class="number">${escapeHtml(formatted)}</td>`;
  }
  return `<td>${escapeHtml(cell)}</td>`;
}

/**
 * Renders a report and writes it atomically: the HTML goes to a temporary
 * file in the same folder, which is flushed to disk and then renamed over
 * `file`, so a reader never sees a half-written report.
 *
 * @returns the absolute path written.
 * @throws Error naming the file when writing fails, after removing the temporary file.
 */
export function writeReport(file: string, report: Report, options: PlotlyBundleOptions = {}): string {
  const html = renderReportHtml(report, options);
  const target = path.resolve(file);
  const folder = path.dirname(target);
  const temporary = path.join(folder, `.${path.basename(target)}.${process.pid}.${Date.now()}.tmp`);

  try {
    const descriptor = fs.openSync(temporary, 'wx');
    try {
      fs.writeFileSync(descriptor, html, 'utf8');
      fs.fsyncSync(descriptor);
    } finally {
      fs.closeSync(descriptor);
    }
    fs.renameSync(temporary, target);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw new Error(`Failed to write the report ${target}: ${(error as Error).message}. Check that the folder exists and is writable.`, { cause: error });
  }

  syncFolder(folder);
  return target;
}

// Codes of file systems and platforms that cannot fsync a folder (Windows rejects opening one).
const FOLDER_SYNC_UNSUPPORTED = new Set(['EISDIR', 'EPERM', 'EINVAL', 'ENOTSUP']);

// Flushes the rename itself to disk where the platform allows it. The report is already in place either way.
function syncFolder(folder: string): void {
  let descriptor: number;
  try {
    descriptor = fs.openSync(folder, 'r');
  } catch (error) {
    if (FOLDER_SYNC_UNSUPPORTED.has((error as NodeJS.ErrnoException).code ?? '')) return;
    throw error;
  }
  try {
    fs.fsyncSync(descriptor);
  } catch (error) {
    if (!FOLDER_SYNC_UNSUPPORTED.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
  } finally {
    fs.closeSync(descriptor);
  }
}
