// Compiles src/ twice: ES modules into dist/esm and CommonJS into dist/cjs.
// Each output folder gets a package.json naming its module type, so Node
// reads the .js files in both folders correctly.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
for (const [project, folder, type] of [
  ['tsconfig.json', 'esm', 'module'],
  ['tsconfig.cjs.json', 'cjs', 'commonjs'],
]) {
  execFileSync(process.execPath, [tsc, '-p', path.join(root, project)], { stdio: 'inherit' });
  fs.writeFileSync(path.join(root, 'dist', folder, 'package.json'), JSON.stringify({ type }) + '\n');
}

// ES modules have no __dirname: the ES-module build finds its own folder from import.meta.url.
const parallel = path.join(root, 'dist', 'esm', 'train', 'parallel.js');
const source = fs.readFileSync(parallel, 'utf8');
const patched = source.replace('return __dirname;', "return decodeURIComponent(new URL('.', import.meta.url).pathname);");
if (patched === source) throw new Error(`build: the module-folder lookup in ${parallel} was not found`);
fs.writeFileSync(parallel, patched);

// The command-line entry point is the package's bin, run directly by npx and npm exec.
fs.chmodSync(path.join(root, 'dist', 'cjs', 'cli', 'main.js'), 0o755);
