// Appended to the glue renkei_core.js (emcc --post-js, inside the module's
// factory, where HEAPU8 and the exported _renkei_* functions are in scope):
// Module.runCase and Module.version over the plain C functions of bindings.cpp.
// HEAPU8 is read after every call into the module, which may have grown its
// memory (and so replaced HEAPU8).

/* global Module, HEAPU8, _renkei_input, _renkei_run_case, _renkei_answer_size, _renkei_version */
(function () {
  var encoder = new TextEncoder();
  var decoder = new TextDecoder();
  // Up to this many UTF-16 units, the line is encoded straight into the
  // module's memory (at most 3 bytes a unit); a longer one is encoded first,
  // so that the input buffer is only as large as the bytes.
  var DIRECT_UNITS = 21845;

  // runCase(line): line is a string (sent as UTF-8, as a browser's fetch or
  // TextEncoder sends it: a lone surrogate becomes U+FFFD) or bytes (a
  // Uint8Array, Int8Array, Uint8ClampedArray or ArrayBuffer: passed unchanged).
  Module['runCase'] = function (line) {
    var n;
    if (typeof line === 'string') {
      if (line.length <= DIRECT_UNITS) {
        var cap = line.length * 3;
        var at = _renkei_input(cap);
        n = encoder.encodeInto(line, HEAPU8.subarray(at, at + cap)).written;
        return answer(n);
      }
      line = encoder.encode(line);
    } else if (line instanceof ArrayBuffer) {
      line = new Uint8Array(line);
    } else if (line instanceof Int8Array || line instanceof Uint8ClampedArray) {
      line = new Uint8Array(line.buffer, line.byteOffset, line.byteLength);
    } else if (!(line instanceof Uint8Array)) {
      throw new TypeError('runCase takes a string or a Uint8Array');
    }
    var to = _renkei_input(line.length);
    HEAPU8.set(line, to);
    return answer(line.length);
  };

  function answer(n) {
    var out = _renkei_run_case(n);
    return decoder.decode(HEAPU8.subarray(out, out + _renkei_answer_size()));
  }

  Module['version'] = function () {
    var at = _renkei_version();
    var end = at;
    while (HEAPU8[end] !== 0) end++;
    return decoder.decode(HEAPU8.subarray(at, end));
  };
})();
