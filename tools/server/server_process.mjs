// Shared by the Node scripts of tools/server: flags, and a greta_server child on 127.0.0.1 with a
// free port (--port 0) that stops by itself (--exit-after) and is stopped with SIGTERM.
import { spawn } from "node:child_process";

// "--name value" pairs of argv into an object.
export function parseFlags(argv) {
  return Object.fromEntries(argv.reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
}

// Resolves to {proc, url, err()} once the server printed its URL; rejects if it exits first.
export function startServer(binary, args, exitAfterSeconds = 600) {
  return new Promise((resolve, reject) => {
    const proc = spawn(binary, [...args, "--host", "127.0.0.1", "--port", "0", "--exit-after", String(exitAfterSeconds)],
                       { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    proc.stderr.on("data", (d) => (err += d));
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolve({ proc, url: `http://127.0.0.1:${m[1]}`, err: () => err });
    });
    proc.on("exit", (code) => reject(new Error(`greta_server exited ${code} before listening: ${err}`)));
  });
}

// SIGTERM; resolves to the exit code.
export function stopServer(s) {
  return new Promise((resolve) => {
    s.proc.removeAllListeners("exit");
    if (s.proc.exitCode !== null) return resolve(s.proc.exitCode);
    s.proc.on("exit", (code) => resolve(code));
    s.proc.kill("SIGTERM");
  });
}
