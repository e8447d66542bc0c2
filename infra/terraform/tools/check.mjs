// Offline syntax check of the Terraform configuration: parses every .tf file with @cdktf/hcl2json (HashiCorp's HCL
// parser compiled to WebAssembly, the same hclsyntax package terraform uses), since no terraform binary or provider
// can be installed here (shared/research/infra-probe.md §6). Syntax only: no provider schemas, no references.
//
//   node check.mjs [--json] [--prefix DIR] PATH...
//
// PATH is a .tf file or a folder searched recursively (folders named .terraform are skipped). Each parse error is
// printed to stderr as `file:line,col: message`; the exit code is 1 if any file failed, 2 on bad usage or when the
// parser cannot be loaded, 0 otherwise. With --json, stdout is one JSON object {"files": {"<path>": <parsed>}}, paths
// relative to the current directory with forward slashes, for structural checks on top (TerraformSyntaxTests.cs).
// --prefix names the npm prefix @cdktf/hcl2json was installed into (`npm install --prefix DIR`, so DIR/node_modules);
// without it the package is resolved from this script's folder upwards.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const args = process.argv.slice(2);
let json = false;
let prefix = null;
const targets = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--json") json = true;
  else if (args[i] === "--prefix") prefix = args[++i];
  else targets.push(args[i]);
}
if (targets.length === 0 || prefix === undefined) {
  console.error("usage: node check.mjs [--json] [--prefix DIR] PATH...");
  process.exit(2);
}

let parse;
try {
  const require = createRequire(prefix ? path.resolve(prefix, "package.json") : import.meta.url);
  ({ parse } = require("@cdktf/hcl2json"));
} catch (e) {
  console.error(`cannot load @cdktf/hcl2json (install it: npm install --prefix DIR @cdktf/hcl2json@0.21.0, then pass --prefix DIR): ${e.message}`);
  process.exit(2);
}

function collect(p, out) {
  const st = statSync(p);
  if (st.isDirectory()) {
    for (const name of readdirSync(p).sort()) {
      if (name === ".terraform" || name === "node_modules") continue;
      collect(path.join(p, name), out);
    }
  } else if (p.endsWith(".tf")) {
    out.push(p);
  }
}

const files = [];
for (const t of targets) {
  try {
    collect(t, files);
  } catch (e) {
    console.error(`${t}: ${e.message}`);
    process.exit(2);
  }
}

const parsed = {};
let failed = 0;
for (const file of files) {
  const rel = path.relative(process.cwd(), file).split(path.sep).join("/");
  try {
    parsed[rel] = await parse(rel, readFileSync(file, "utf8"));
  } catch (e) {
    failed++;
    // hcl2json: "parse config: [file:L,C-L,C: Summary; Detail]" — one diagnostic per bracketed entry.
    const text = String(e.message ?? e).replace(/^parse config: /, "");
    const diags = text.match(/\[[^\]]*\]/g) ?? [text];
    for (const d of diags) {
      const m = d.replace(/^\[|\]$/g, "").match(/^(.*?):(\d+),(\d+)(?:-[\d,]+)?: (.*)$/s);
      console.error(m ? `${m[1]}:${m[2]},${m[3]}: ${m[4]}` : `${rel}: ${d}`);
    }
  }
}

if (files.length === 0) {
  console.error(`no .tf files under ${targets.join(", ")}`);
  process.exit(1);
}
if (json) process.stdout.write(JSON.stringify({ files: parsed }));
else console.log(`${files.length - failed}/${files.length} .tf files parsed`);
// exitCode, not exit(): exit() would cut a large --json output still queued for a pipe (at 64 KiB).
process.exitCode = failed > 0 ? 1 : 0;
