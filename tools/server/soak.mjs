#!/usr/bin/env node
// Soak test of greta_server (issue 11): N concurrent clients send random valid and invalid
// requests for a bounded time, on loopback, to a server this script starts (with --exit-after,
// so it stops by itself) and stops with SIGTERM. Checks that every response is well-formed (the
// expected status class, an OpenAI error object for errors, SSE ending with [DONE] for streams),
// that the server never crashes, and that its RSS after warm-up stays within 5%.
//
//   node tools/server/soak.mjs --server BUILD/greta_server [--seconds 600] [--clients 32]
//        [--model models/stories260K.gguf] [--parallel 8] [--threads 2] [--max-requests 1000000]
//        [--max-connections 64]
//
// Prints one summary line (requests by status, tokens, RSS after warm-up min/max) and exits 0
// when all held, 1 otherwise.
import { readFileSync } from "node:fs";
import process from "node:process";

import { parseFlags, startServer, stopServer } from "./server_process.mjs";

const args = parseFlags(process.argv.slice(2));
if (!args.server) {
  console.error("usage: soak.mjs --server PATH [--seconds 600] [--clients 32] [--model M] [--parallel 8] [--threads 2]");
  process.exit(2);
}
const seconds = Number(args.seconds ?? 600);
const clients = Number(args.clients ?? 32);
const maxRequests = Number(args["max-requests"] ?? 1e6);
const key = "soak-key";

let a = 12345;
const rnd = () => {
  a = (a + 0x6d2b79f5) >>> 0;
  let t = Math.imul(a ^ (a >>> 15), a | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];

const server = await startServer(args.server, ["-m", args.model ?? "models/stories260K.gguf", "--kv-aligned", "1",
  "-t", args.threads ?? "2", "--parallel", args.parallel ?? "8", "--max-queue", "16", "--max-body", "65536",
  "--api-key", key, "--max-connections", args["max-connections"] ?? "64"], seconds + 120);
const proc = server.proc;
const url = server.url;
let exited = null;
proc.on("exit", (code, sig) => (exited = { code, sig }));

const words = ["the", "cat", "sat", "on", "a", "mat", "Lily", "played", "with", "her", "dog", "in", "park", "."];
const text = (n) => Array.from({ length: n }, () => pick(words)).join(" ");

// One random request: [method, path, headers, body, expected statuses, kind].
function randomRequest() {
  const auth = { Authorization: "Bearer " + key, "Content-Type": "application/json" };
  const r = rnd();
  const valid = (stream) => {
    const chat = rnd() < 0.5;
    const body = { max_tokens: 1 + Math.floor(rnd() * 40), temperature: pick([0, 0.5, 1, 1.5]), stream,
                   top_k: pick([0, 10, 40]), top_p: pick([1, 0.9]), min_p: pick([0, 0.05]) };
    if (rnd() < 0.5) body.seed = Math.floor(rnd() * 1e6);
    if (rnd() < 0.3) body.logprobs = chat ? true : 3;
    if (chat && body.logprobs) body.top_logprobs = 2;
    if (rnd() < 0.2) body.stop = [pick(words)];
    if (rnd() < 0.2) body.n = 2;
    if (chat) body.messages = [{ role: "user", content: text(1 + Math.floor(rnd() * 80)) }];
    else body.prompt = text(1 + Math.floor(rnd() * 80));
    return ["POST", chat ? "/v1/chat/completions" : "/v1/completions", auth, JSON.stringify(body), [200, 503], stream ? "sse" : "json"];
  };
  if (r < 0.45) return valid(false);
  if (r < 0.7) return valid(true);
  if (r < 0.75) return ["GET", pick(["/health", "/v1/models", "/metrics"]), auth, undefined, [200], "any"];
  const bad = [
    ["POST", "/v1/completions", auth, "{\"prompt\": ", [400]],
    ["POST", "/v1/completions", auth, JSON.stringify({ prompt: "x", max_tokens: "many" }), [400]],
    ["POST", "/v1/completions", auth, JSON.stringify({ prompt: "x", temperature: 9 }), [400]],
    ["POST", "/v1/chat/completions", auth, JSON.stringify({ messages: [] }), [400]],
    ["POST", "/v1/completions", auth, JSON.stringify({ prompt: text(3000) }), [400, 413]],
    ["POST", "/v1/completions", auth, "x".repeat(70000), [413]],
    ["POST", "/v1/completions", { "Content-Type": "application/json" }, JSON.stringify({ prompt: "x" }), [401]],
    ["POST", "/v1/completions", { Authorization: "Bearer nope" }, JSON.stringify({ prompt: "x" }), [401]],
    ["GET", "/v1/completions", auth, undefined, [405]],
    ["DELETE", "/v1/models", auth, undefined, [405]],
    ["GET", "/v1/" + text(2).replace(/ /g, "/"), auth, undefined, [404]],
    ["POST", "/v1/completions", auth, "[".repeat(5000), [400]],
  ];
  return [...pick(bad), "error"];
}

const stats = { requests: 0, byStatus: {}, bad: 0, aborted: 0, tokens: 0 };
const problems = [];
function problem(what) {
  stats.bad += 1;
  if (problems.length < 20) problems.push(what);
}

async function one() {
  const [method, path, headers, body, expected, kind] = randomRequest();
  const abort = new AbortController();
  const disconnect = kind === "sse" && rnd() < 0.15;  // some clients go away mid-stream
  const timer = setTimeout(() => abort.abort(), 120000);
  try {
    const res = await fetch(url + path, { method, headers, body, signal: abort.signal });
    stats.byStatus[res.status] = (stats.byStatus[res.status] ?? 0) + 1;
    if (!expected.includes(res.status)) problem(`${method} ${path}: status ${res.status}, expected ${expected}`);
    if (disconnect && res.status === 200) {
      const reader = res.body.getReader();
      await reader.read();
      abort.abort();
      stats.aborted += 1;
      return;
    }
    const t = await res.text();
    if (res.status !== 200) {
      const j = JSON.parse(t);
      if (!j.error || typeof j.error.message !== "string" || j.error.code !== res.status) problem(`bad error object: ${t.slice(0, 200)}`);
      if (res.status === 503 && !res.headers.get("retry-after")) problem("503 without Retry-After");
    } else if (kind === "sse") {
      const payloads = t.split("\n\n").filter((s) => s.startsWith("data: ")).map((s) => s.slice(6));
      if (payloads.at(-1) !== "[DONE]") problem(`stream without [DONE]: ${t.slice(-200)}`);
      for (const p of payloads.slice(0, -1)) {
        const j = JSON.parse(p);
        if (j.error) problem(`stream error: ${p.slice(0, 200)}`);
        for (const c of j.choices ?? []) stats.tokens += (c.token_ids ?? []).length;
      }
    } else if (kind === "json") {
      const j = JSON.parse(t);
      if (!Array.isArray(j.choices) || !j.usage) problem(`bad completion: ${t.slice(0, 200)}`);
      stats.tokens += j.usage.completion_tokens;
    } else if (path !== "/metrics") {
      JSON.parse(t);
    }
  } catch (e) {
    if (!(disconnect && e.name === "AbortError")) problem(`${method} ${path}: ${e.message}${e.cause ? " (" + (e.cause.code ?? e.cause.message) + ")" : ""}`);
  } finally {
    clearTimeout(timer);
    stats.requests += 1;
  }
}

const t0 = Date.now();
const deadline = t0 + seconds * 1000;
const rss = [];  // [seconds since start, KiB]
const sampler = setInterval(() => {
  try {
    const m = readFileSync(`/proc/${proc.pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/);
    if (m) rss.push([(Date.now() - t0) / 1000, Number(m[1])]);
  } catch {}
}, 2000);
await Promise.all(Array.from({ length: clients }, async () => {
  while (Date.now() < deadline && stats.requests < maxRequests && exited === null) await one();
}));
clearInterval(sampler);

const crashed = exited !== null;
const code = crashed ? exited.code : await stopServer(server);
const warm = rss.filter(([t]) => t >= seconds * 0.2).map(([, k]) => k);
const lo = Math.min(...warm), hi = Math.max(...warm);
const flat = warm.length > 0 && (hi - lo) / lo <= 0.05;
console.log(`soak: ${seconds} s, ${clients} clients: ${stats.requests} requests ${JSON.stringify(stats.byStatus)}, ` +
            `${stats.tokens} tokens, ${stats.aborted} streams abandoned, ${stats.bad} malformed/unexpected; ` +
            `RSS after warm-up ${lo}..${hi} KiB (${warm.length ? (((hi - lo) / lo) * 100).toFixed(2) : "?"}%), ` +
            `server exit ${code}${crashed ? " (CRASHED before the end)" : ""}`);
const step = Math.max(1, Math.floor(rss.length / 10));
console.log("soak: RSS KiB over time: " + rss.filter((_, i) => i % step === 0).map(([t, k]) => `${t.toFixed(0)}s:${k}`).join(" "));
for (const p of problems) console.log("  " + p);
process.exit(!crashed && code === 0 && stats.bad === 0 && flat ? 0 : 1);
