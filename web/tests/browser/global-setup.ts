// Starts the system for the browser suite: two local runners (`python -m local`), each on a
// free port, on the runner's embedded defaults (SQLite and an embedded Redis under a fresh
// state folder), serving the exported app. The second one issues access tokens that expire
// after 60 s (ACCESS_TOKEN_TTL_SECONDS' minimum), for the test of a refresh after expiry.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const REPO = resolve(__dirname, "../../..");
export const ADMIN_EMAIL = "admin@stratus.test";
export const ADMIN_PASSWORD = "admin password for the browser suite";

type Runner = { proc: ChildProcess; url: string; moto: string };

function start(name: string, env: Record<string, string>): Promise<Runner> {
  const python = process.env.PYTHON ?? join(REPO, ".venv/bin/python");
  const proc = spawn(python, ["-m", "local"], {
    cwd: REPO,
    env: {
      ...process.env,
      PORT: "0",
      LOCAL_STATE_DIR: mkdtempSync(join(tmpdir(), `stratus-browser-${name}-`)),
      WEB_DIR: join(REPO, "web/out"),
      DATABASE_URL: "",
      REDIS_URL: "",
      APP_URL: "",
      FRONTEND_ORIGIN: "",
      ADMIN_EMAIL,
      ADMIN_PASSWORD,
      RATE_LIMIT_PER_MINUTE: "100000",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((done, fail) => {
    let output = "";
    const timer = setTimeout(() => fail(new Error(`runner ${name} did not start:\n${output}`)), 90_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /Stratus is running at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      const moto = /AWS \(moto\)\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      if (url && moto && output.includes("Ctrl-C stops.")) {
        clearTimeout(timer);
        proc.stdout?.off("data", read);
        proc.stdout?.resume(); // keep draining: a full pipe would block the runner
        done({ proc, url, moto });
      }
    };
    proc.stdout?.on("data", read);
    proc.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    proc.on("exit", (code) => fail(new Error(`runner ${name} exited (${code}):\n${output}`)));
  });
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  const started = Date.now();
  const [main, short] = await Promise.all([
    start("main", {}),
    start("short-ttl", { ACCESS_TOKEN_TTL_SECONDS: "60" }),
  ]);
  process.env.STRATUS_URL = main.url;
  process.env.STRATUS_MOTO_URL = main.moto; // SES under moto keeps the emails it "sent"
  process.env.STRATUS_SHORT_TTL_URL = short.url;
  console.log(`local runners up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${main.url}, ${short.url} (60 s tokens)`);
  return async () => {
    // Both at once: Ctrl-C, as a developer stops `make local`, then a kill after a grace period
    await Promise.all(
      [main, short].map(async ({ proc }) => {
        const stopped = new Promise((done) => proc.once("exit", done));
        proc.kill("SIGINT");
        await Promise.race([stopped, new Promise((done) => setTimeout(done, 5_000))]);
        if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      }),
    );
  };
}
