// Starts the operator console (web/console/index.html): the Dear ImGui module
// renkei_console.js/.wasm draws into #canvas and calls the admin API itself.
// A file of its own because the CSP allows no inline script.
//
// window.renkeiConsoleProbe() returns the console's state (view, last action,
// where each named widget is drawn) for tests; it reads, it performs nothing.
'use strict';

(function start() {
  const canvas = document.getElementById('canvas');
  const status = document.getElementById('console-status');
  const fail = (why) => {
    status.hidden = false;
    status.textContent = `管理コンソールを開始できません: ${why}`;
  };
  if (typeof createRenkeiConsole !== 'function') {
    fail('renkei_console.js が読み込めません');
    return;
  }
  // Keys typed into the console must not scroll or navigate the page.
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  createRenkeiConsole({
    canvas,
    locateFile: (file) => `/static/wasm/${file}`,
    print: (text) => console.log(text),
    printErr: (text) => console.warn(text),
  }).then((module) => {
    window.renkeiConsoleProbe = () => JSON.parse(module.UTF8ToString(module._renkei_console_probe()));
    status.hidden = true;
    canvas.focus();
  }, (err) => fail(String(err && err.message ? err.message : err)));
}());
