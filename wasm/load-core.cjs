'use strict';
// Loads the WASM core (renkei_core.js + renkei_core.wasm from the wasm preset)
// in node. Used by the node twin of the native CLI (renkei-cases.cjs), the node
// tests (tests/wasm/) and the parity check (tests/parity/).
//
//   const { loadCore } = require('<repo>/wasm/load-core.cjs');
//   const core = await loadCore();          // RENKEI_WASM_DIR or <repo>/build/wasm
//   core.runCase('{"kind":"field","field":"branch","value":"１２３"}');
//
// runCase takes a string or a Uint8Array (raw bytes, passed through unchanged)
// and returns the result line as a string.

const fs = require('node:fs');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..');

// The folder holding the module: the argument, else RENKEI_WASM_DIR, else
// <repo>/build/wasm.
function wasmDir(dir) {
  if (dir) return path.resolve(dir);
  if (process.env.RENKEI_WASM_DIR) return path.resolve(process.env.RENKEI_WASM_DIR);
  return path.join(REPO_ROOT, 'build', 'wasm');
}

// Resolves to { runCase, version, dir, module }. Rejects with a message naming
// the folder when the module is missing (build it with the wasm preset).
async function loadCore(dir) {
  const folder = wasmDir(dir);
  const jsPath = path.join(folder, 'renkei_core.js');
  const wasmPath = path.join(folder, 'renkei_core.wasm');
  if (!fs.existsSync(jsPath) || !fs.existsSync(wasmPath)) {
    throw new Error(
      `renkei_core.js/.wasm not found in ${folder}: build them with ` +
        '"cmake --preset wasm && cmake --build --preset wasm" or set RENKEI_WASM_DIR');
  }
  const createRenkeiCore = require(jsPath);
  // Node 20's fetch() cannot read a file path: hand the bytes over directly.
  const module = await createRenkeiCore({
    wasmBinary: fs.readFileSync(wasmPath),
    print: (text) => process.stdout.write(`${text}\n`),
    printErr: (text) => process.stderr.write(`${text}\n`),
  });
  return {
    runCase: (line) => module.runCase(line),
    version: () => module.version(),
    dir: folder,
    module,
  };
}

module.exports = { loadCore, wasmDir, REPO_ROOT };
