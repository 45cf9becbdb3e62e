#!/usr/bin/env node
// Throughput of greta_server under concurrent streams (docs/PROGRESS.md): for each stream count
// S, starts the server with --parallel S on 127.0.0.1, sends S streamed completions at once
// (each `--max-tokens` tokens, EOS ignored, a prompt of about `--prompt-words` words), and reports
// the aggregate generated tokens/s (first token sent to last token received) and the time to
// first token p50 / p99 over the S requests of `--rounds` rounds.
//
//   node tools/server/bench.mjs --server BUILD/greta_server --model /tmp/tl_q8_0.gguf --threads 2 \
//        [--streams 1,16] [--max-tokens 32] [--prompt-words 48] [--rounds 2] [--backend cpu]
import process from "node:process";

import { parseFlags, startServer, stopServer } from "./server_process.mjs";

const args = parseFlags(process.argv.slice(2));
if (!args.server || !args.model) {
  console.error("usage: bench.mjs --server PATH --model FILE [--threads 2] [--streams 1,16] [--max-tokens 32] ...");
  process.exit(2);
}
const streams = (args.streams ?? "1,16").split(",").map(Number);
const maxTokens = Number(args["max-tokens"] ?? 32);
const promptWords = Number(args["prompt-words"] ?? 48);
const rounds = Number(args.rounds ?? 2);

async function stream(url, i) {
  const words = ["Once", "upon", "a", "time", "there", "was", "a", "little", "girl", "who", "liked", "to", "play"];
  const prompt = Array.from({ length: promptWords }, (_, k) => words[(k + i) % words.length]).join(" ");
  const t0 = performance.now();
  const res = await fetch(url + "/v1/completions", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt, max_tokens: maxTokens, ignore_eos: true, temperature: 0, stream: true }) });
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "", tokens = 0, tFirst = 0, tLast = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(6, cut);
      buf = buf.slice(cut + 2);
      if (ev === "[DONE]") continue;
      const n = JSON.parse(ev).choices.reduce((s, c) => s + (c.token_ids ?? []).length, 0);
      if (n > 0) {
        tokens += n;
        tLast = performance.now();
        if (!tFirst) tFirst = tLast;
      }
    }
  }
  return { tokens, ttft: (tFirst - t0) / 1000, tFirst, tLast };
}

const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
for (const s of streams) {
  const srv = await startServer(args.server, ["-m", args.model, "--kv-aligned", "1", "-t", args.threads ?? "2", "--parallel",
                                             String(s), "-c", "512", "--backend", args.backend ?? "cpu"], 3600);
  await stream(srv.url, 0);  // warm-up: page the weights in
  const ttfts = [];
  let tokens = 0, seconds = 0;
  for (let r = 0; r < rounds; ++r) {
    const results = await Promise.all(Array.from({ length: s }, (_, i) => stream(srv.url, i + r)));
    for (const x of results) ttfts.push(x.ttft);
    tokens += results.reduce((n, x) => n + x.tokens, 0);
    seconds += (Math.max(...results.map((x) => x.tLast)) - Math.min(...results.map((x) => x.tFirst))) / 1000;
  }
  await stopServer(srv);
  console.log(`bench: ${s} stream(s): ${(tokens / seconds).toFixed(2)} generated tokens/s aggregate ` +
              `(${tokens} tokens), time to first token p50 ${pct(ttfts, 50).toFixed(3)} s, p99 ${pct(ttfts, 99).toFixed(3)} s`);
}
