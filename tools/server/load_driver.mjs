#!/usr/bin/env node
// Determinism under load, driven from outside (issue 11's acceptance; docs/SERVER.md): starts
// greta_server on 127.0.0.1 with --parallel 1, 4 and 16, sends 8 fixed requests alone, then
// among 1, 7 and 31 concurrent others in shuffled arrival orders (half streamed), and checks that
// each gets exactly the same text, token ids and log-probabilities every time.
//
//   node tools/server/load_driver.mjs --server BUILD/greta_server --client curl
//   node tools/server/load_driver.mjs --server BUILD/greta_server --client openai --openai-dir DIR
//
// --client curl: every request is a curl process. --client openai: the official `openai` npm
// package (found in DIR/node_modules, e.g. after `npm install --prefix DIR openai`); exit 77
// (skipped) when it is not there. Each server stops by itself (--exit-after) and is stopped with
// SIGTERM (exit 0 expected). Exit 0: all equal; 1: a difference (printed); 2: usage.
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import process from "node:process";

import { parseFlags, startServer, stopServer } from "./server_process.mjs";

const args = parseFlags(process.argv.slice(2));
const server = args.server;
const clientKind = args.client ?? "curl";
const models = (args.models ?? "models/stories260K.gguf,models/TinyStories-656K-Q8_0.gguf").split(",");
const parallels = (args.parallel ?? "1,4,16").split(",").map(Number);
if (!server || !["curl", "openai"].includes(clientKind)) {
  console.error("usage: load_driver.mjs --server PATH --client curl|openai [--openai-dir DIR] [--models A,B] [--parallel 1,4,16]");
  process.exit(2);
}

let OpenAI = null;
if (clientKind === "openai") {
  try {
    const req = createRequire(path.resolve(args["openai-dir"] ?? ".") + "/");
    OpenAI = req("openai");
    OpenAI = OpenAI.default ?? OpenAI.OpenAI ?? OpenAI;
  } catch {
    console.error("load_driver: the openai package is not installed (npm install --prefix DIR openai); skipped");
    process.exit(77);
  }
}

// Deterministic shuffles and fillers (mulberry32).
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sentence = "The little dog ran to the park to find his red ball, and the sun was warm. ";
const FIXED = [
  ["completions", { prompt: "Once upon a time", max_tokens: 10, temperature: 0, logprobs: 5 }],
  ["completions", { prompt: "Tom had a big red truck. He liked to play with it every day in the garden. One day",
                    max_tokens: 12, temperature: 0.8, top_k: 40, top_p: 0.95, seed: 11, logprobs: 5 }],
  ["chat", { messages: [{ role: "system", content: "You tell stories." }, { role: "user", content: "A cat?" }],
             max_tokens: 10, temperature: 0, logprobs: true, top_logprobs: 5 }],
  ["chat", { messages: [{ role: "user", content: "Tell me about the moon." }], max_tokens: 10, temperature: 1.0,
             min_p: 0.05, seed: 12345, logprobs: true, top_logprobs: 5 }],
  ["completions", { prompt: sentence.repeat(20), max_tokens: 8, temperature: 0, logprobs: 5 }],
  ["completions", { prompt: "The girl saw a bird.", max_tokens: 14, temperature: 0.7, seed: 5, stop: ["."], logprobs: 5 }],
  ["completions", { prompt: "Lily and Ben", max_tokens: 9, temperature: 0.9, seed: 77, echo: true, logprobs: 5 }],
  ["completions", { prompt: [1, 100, 200, 300, 400], max_tokens: 10, temperature: 1.2, top_p: 0.9, seed: 99, logprobs: 5 }],
];

function filler(r, parallel) {
  const words = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "ran", "far", "away", "home"];
  const n = 1 + Math.floor(r() * 60);
  const prompt = Array.from({ length: n }, () => words[Math.floor(r() * words.length)]).join(" ");
  const body = { max_tokens: 3 + Math.floor(r() * 14), temperature: Math.floor(r() * 3) * 0.5, seed: Math.floor(r() * 1000) };
  if (parallel >= 2 && r() < 0.25) body.n = 2;
  if (r() < 0.5) return ["completions", { ...body, prompt }];
  return ["chat", { ...body, messages: [{ role: "user", content: prompt }] }];
}

// Choice 0 of a reply (whole or as chunks) as {text, ids, lp, finish}.
function canonical(kind, chunks, streamed) {
  const out = { text: "", ids: [], lp: [], finish: null };
  for (const j of chunks) {
    for (const c of j.choices ?? []) {
      if ((c.index ?? 0) !== 0) continue;
      if (kind === "chat") {
        const m = streamed ? c.delta : c.message;
        if (m && typeof m.content === "string") out.text += m.content;
      } else {
        out.text += c.text;
      }
      out.ids.push(...(c.token_ids ?? []));
      const lp = c.logprobs;
      if (lp && kind === "chat") out.lp.push(...lp.content);
      if (lp && kind !== "chat") lp.token_logprobs.forEach((v, i) => out.lp.push([v, lp.top_logprobs[i], lp.tokens[i]]));
      if (c.finish_reason) out.finish = c.finish_reason;
    }
  }
  return JSON.stringify(out);
}

function sse(body) {
  const payloads = body.split("\n\n").filter((s) => s.startsWith("data: ")).map((s) => s.slice(6));
  if (payloads.at(-1) !== "[DONE]") throw new Error("stream without [DONE] last: " + body.slice(-200));
  return payloads.slice(0, -1).map((p) => JSON.parse(p));
}

function curl(url, kind, body) {
  const endpoint = kind === "chat" ? "/v1/chat/completions" : "/v1/completions";
  return new Promise((resolve, reject) => {
    execFile("curl", ["-sS", "-N", "--max-time", "120", "-H", "Content-Type: application/json", "-d", JSON.stringify(body),
                      url + endpoint], { maxBuffer: 64 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

async function send(url, kind, body, stream) {
  body = { ...body, stream, model: "any" };
  if (clientKind === "curl") {
    const text = await curl(url, kind, body);
    return canonical(kind, stream ? sse(text) : [JSON.parse(text)], stream);
  }
  const client = new OpenAI({ baseURL: url + "/v1", apiKey: "none", maxRetries: 0, timeout: 120000 });
  const api = kind === "chat" ? client.chat.completions : client.completions;
  const res = await api.create(body);
  if (!stream) return canonical(kind, [res], false);
  const chunks = [];
  for await (const c of res) chunks.push(c);
  return canonical(kind, chunks, true);
}

async function sendConcurrently(url, jobs, r) {
  const order = jobs.map((_, i) => i);
  for (let i = order.length - 1; i > 0; --i) {
    const k = Math.floor(r() * (i + 1));
    [order[i], order[k]] = [order[k], order[i]];
  }
  const out = new Array(jobs.length);
  const pending = [];
  for (const k of order) {
    pending.push(send(url, jobs[k][0], jobs[k][1], jobs[k][2]).then((v) => (out[k] = v)));
    await new Promise((res) => setTimeout(res, Math.floor(r() * 3)));
  }
  await Promise.all(pending);
  return out;
}

let failures = 0;
let compared = 0;
function expectSame(got, want, what) {
  compared += 1;
  if (got === want) return;
  failures += 1;
  console.error(`DIFFERENT: ${what}\n  alone: ${want.slice(0, 300)}\n  load:  ${got.slice(0, 300)}`);
}

for (const model of models) {
  let baseline = null;
  for (const parallel of parallels) {
    const s = await startServer(server, ["-m", model, "--kv-aligned", "1", "-t", "2", "-c", "1024", "--parallel",
                                         String(parallel), "--backend", args.backend ?? "cpu"], 300);
    const where = `${path.basename(model)} --parallel ${parallel} (${clientKind})`;
    const alone = [];
    for (const [kind, body] of FIXED) alone.push(await send(s.url, kind, body, false));
    if (!baseline) {
      baseline = alone;
      baseline.forEach((v, i) => {
        const c = JSON.parse(v);
        if (c.ids.length === 0 || c.lp.length < c.ids.length) {
          failures += 1;
          console.error(`${where}: request ${i}: no tokens or missing logprobs: ${v.slice(0, 300)}`);
        }
      });
    }
    alone.forEach((v, i) => expectSame(v, baseline[i], `${where}: request ${i} alone`));
    const r = rng(1000 + parallel);
    for (let i = 0; i < FIXED.length; ++i) {
      const got = await sendConcurrently(s.url, [[...FIXED[i], i % 2 === 1], [...filler(r, parallel), false]], r);
      expectSame(got[0], baseline[i], `${where}: request ${i} among 1 other`);
    }
    let got = await sendConcurrently(s.url, FIXED.map((f, i) => [...f, i % 2 === 0]), r);
    got.forEach((v, i) => expectSame(v, baseline[i], `${where}: request ${i} among 7 others`));
    const jobs = FIXED.map((f, i) => [...f, i % 2 === 1]);
    for (let k = 0; k < 24; ++k) jobs.push([...filler(r, parallel), r() < 0.5]);
    got = await sendConcurrently(s.url, jobs, r);
    for (let i = 0; i < FIXED.length; ++i) expectSame(got[i], baseline[i], `${where}: request ${i} among 31 others`);
    const code = await stopServer(s);
    if (code !== 0) {
      failures += 1;
      console.error(`${where}: SIGTERM exit ${code}: ${s.err()}`);
    }
    console.log(`load_driver: ${where}: ok so far (${compared} comparisons, ${failures} differences)`);
  }
}
console.log(`load_driver: ${compared} comparisons, ${failures} differences (${clientKind})`);
process.exit(failures === 0 ? 0 : 1);
