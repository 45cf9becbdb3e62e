#!/usr/bin/env -S node --experimental-websocket
// The chat page at / in headless Chromium (Debian's `chromium`), driven through the DevTools
// protocol: loads the page from a greta_server it starts, types a message into the input, clicks
// Send, waits for the streamed answer to finish in the DOM, and checks that it equals the API's
// non-streamed answer to the same request (same seed). Exit 0: equal; 1: not; 77: no chromium.
//
//   node --experimental-websocket tools/server/chat_page_check.mjs --server BUILD/greta_server [--chromium PATH]
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";

import { parseFlags, startServer, stopServer } from "./server_process.mjs";

const args = parseFlags(process.argv.slice(2));
const chromium = args.chromium ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
if (!chromium) {
  console.error("chat_page_check: chromium is not installed (apt-get install chromium); skipped");
  process.exit(77);
}
if (typeof WebSocket === "undefined") {
  console.error("chat_page_check: run with node --experimental-websocket (Node >= 20.10)");
  process.exit(2);
}

const fail = (msg) => {
  console.error("chat_page_check: FAIL: " + msg);
  process.exitCode = 1;
};
const srv = await startServer(args.server, ["-m", args.model ?? "models/stories260K.gguf", "-t", "1", "--kv-aligned", "1"], 120);
const profile = mkdtempSync(path.join(os.tmpdir(), "greta_chromium_"));
const browser = spawn(chromium, ["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", `--user-data-dir=${profile}`,
                                 "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", srv.url + "/?seed=7"],
                      { stdio: ["ignore", "ignore", "pipe"] });
const killer = setTimeout(() => browser.kill("SIGKILL"), 90000);  // bounded whatever happens
try {
  const devtools = await new Promise((resolve, reject) => {
    let err = "";
    browser.stderr.on("data", (d) => {
      err += d;
      const m = err.match(/DevTools listening on (ws:\/\/127\.0\.0\.1:(\d+)\/\S+)/);
      if (m) resolve(Number(m[2]));
    });
    browser.on("exit", (code) => reject(new Error(`chromium exited ${code}: ${err.slice(-500)}`)));
  });
  // The page target, once it exists.
  let target = null;
  for (let i = 0; i < 100 && !target; ++i) {
    const list = await (await fetch(`http://127.0.0.1:${devtools}/json/list`)).json();
    target = list.find((t) => t.type === "page" && t.url.startsWith(srv.url));
    if (!target) await new Promise((r) => setTimeout(r, 100));
  }
  if (!target) throw new Error("no page target");
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  let nextId = 0;
  const pending = new Map();
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.id !== undefined && pending.has(msg.id)) pending.get(msg.id)(msg);
  };
  const evaluate = (expression) => new Promise((resolve) => {
    const id = ++nextId;
    pending.set(id, (msg) => {
      if (msg.result?.exceptionDetails || msg.error) console.error("chat_page_check: evaluate: " + JSON.stringify(msg).slice(0, 500));
      resolve(msg.result?.result?.value);
    });
    ws.send(JSON.stringify({ id, method: "Runtime.evaluate", params: { expression, awaitPromise: true, returnByValue: true } }));
  });
  // Wait for the page, type, click, and wait for the answer to be complete in the DOM.
  // The target may still show about:blank for a moment: wait for the page's own form.
  const ready = `document.readyState === "complete" && document.getElementById("send") !== null`;
  for (let i = 0; i < 200 && (await evaluate(ready)) !== true; ++i) await new Promise((r) => setTimeout(r, 100));
  const seed = 7;  // the page was opened with ?seed=7
  const reply = await evaluate(`(async () => {
    document.getElementById("msg").value = "Hello";
    document.getElementById("send").click();
    for (let i = 0; i < 600; ++i) {
      const a = document.getElementById("answer-1");
      if (a && a.dataset.done === "1") {
        return JSON.stringify({ text: a.textContent, cls: a.className, status: document.getElementById("status").textContent });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return null;
  })()`);
  ws.close();
  const shown = typeof reply === "string" ? JSON.parse(reply) : null;
  if (!shown) throw new Error("the answer did not finish within 60 s");
  const api = await (await fetch(srv.url + "/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "Hello" }], max_tokens: 256, seed }) })).json();
  const expected = api.choices[0].message.content;
  if (shown.cls !== "assistant") fail(`the page shows an error: ${shown.text}`);
  if (!/tokens\/s/.test(shown.status)) fail(`no tokens/s in the status line: '${shown.status}'`);
  if (shown.text !== expected) fail(`streamed answer in the DOM differs from the API's:\n  page: ${JSON.stringify(shown.text)}\n  api:  ${JSON.stringify(expected)}`);
  if (!expected) fail("empty answer");
  if (process.exitCode !== 1) console.log(`chat_page_check: ok (${shown.text.length} characters streamed; ${shown.status})`);
} catch (e) {
  fail(e.message);
} finally {
  clearTimeout(killer);
  browser.kill("SIGTERM");
  await new Promise((r) => (browser.exitCode !== null ? r() : browser.on("exit", r)));
  // Chromium's helper processes can still be writing the profile for a moment after the browser
  // exits: retry the removal.
  try {
    rmSync(profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  } catch (e) {
    console.error(`chat_page_check: note: could not remove ${profile}: ${e.message}`);
  }
  const code = await stopServer(srv);
  if (code !== 0) fail(`greta_server exit ${code}`);
}
