// Prints the gzipped size of the JavaScript the first page load needs (index.html's module scripts and their
// static imports; lazily imported chunks such as the chart are not counted) and fails above the 250 KB budget.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET_BYTES = 250 * 1024;
const dist = new URL("../dist/", import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(dist, ".vite/manifest.json"), "utf8"));

const initial = new Set();
const visit = (key) => {
  const chunk = manifest[key];
  if (!chunk || initial.has(chunk.file)) return;
  initial.add(chunk.file);
  for (const imported of chunk.imports ?? []) visit(imported);
};
for (const [key, chunk] of Object.entries(manifest)) if (chunk.isEntry) visit(key);

const gzipped = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
let initialBytes = 0;
for (const file of initial) initialBytes += gzipped(file);
const lazy = Object.values(manifest).filter((chunk) => chunk.isDynamicEntry && !initial.has(chunk.file));
const lazyBytes = lazy.reduce((sum, chunk) => sum + gzipped(chunk.file), 0);

const kb = (bytes) => (bytes / 1024).toFixed(1);
console.log(`initial JS: ${kb(initialBytes)} KB gzipped in ${initial.size} file(s) (budget ${kb(BUDGET_BYTES)} KB)`);
console.log(`lazy JS:    ${kb(lazyBytes)} KB gzipped in ${lazy.length} chunk(s), loaded with the trading screen`);
if (initialBytes > BUDGET_BYTES) {
  console.error("initial JavaScript is over budget");
  process.exit(1);
}
