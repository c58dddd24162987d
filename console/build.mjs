// Builds the console into OUTDIR (default dist/): one bundled, minified script and one style
// sheet whose names carry a content hash (served as immutable), and index.html naming them
// (served no-cache). Usage: node build.mjs [OUTDIR]
import { build } from "esbuild";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

const out = process.argv[2] || "dist";
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "console"), { recursive: true });
const result = await build({
  entryPoints: ["src/main.tsx", "src/console.css"],
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "esm",
  target: "es2022",
  outdir: join(out, "console"),
  entryNames: "[name]-[hash]",
  metafile: true,
  logLevel: "warning",
  legalComments: "none",
});
const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((f) => f.startsWith("main-") && f.endsWith(".js"));
const css = outputs.find((f) => f.startsWith("console-") && f.endsWith(".css"));
const html = readFileSync("src/index.html", "utf8")
  .replace("%SCRIPT%", `/console/${js}`)
  .replace("%STYLE%", `/console/${css}`);
writeFileSync(join(out, "index.html"), html);
console.log(`console: ${readdirSync(join(out, "console")).join(" ")} index.html -> ${out}`);
