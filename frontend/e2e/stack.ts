import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const repo = resolve(import.meta.dirname, "../..");
const target = process.env.CARGO_TARGET_DIR ?? join(repo, "target");
const PG = { host: "127.0.0.1", port: "5432", user: "postgres" };

/** A free port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => done(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function psql(sql: string): void {
  const result = spawnSync("psql", ["-h", PG.host, "-p", PG.port, "-U", PG.user, "-qtAc", sql], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`);
}

export interface Stack {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * A real `tradesim-dev` (gateway, control plane, a simulator host) on a free port with a fresh database, serving
 * frontend/dist. `allowedOrigin` is the origin the browser uses (the proxy in front of the gateway).
 */
export async function startStack(port: number, allowedOrigin: string): Promise<Stack> {
  const database = `tradesim_e2e_${process.pid}_${port}`;
  psql(`DROP DATABASE IF EXISTS ${database}`);
  psql(`CREATE DATABASE ${database}`);
  const dir = mkdtempSync(join(tmpdir(), "tradesim-e2e-"));
  const child: ChildProcess = spawn(join(target, "debug/tradesim-dev"), [], {
    env: {
      ...process.env,
      TRADESIM_DEV_BIND: `127.0.0.1:${port}`,
      DATABASE_URL: `postgres://${PG.user}@${PG.host}:${PG.port}/${database}`,
      TRADESIM_DEV_DIR: dir,
      // E2E_DIST serves another build of the SPA (an A/B of the figures against an older build).
      TRADESIM_DEV_FRONTEND: process.env.E2E_DIST ?? join(repo, "frontend/dist"),
      TRADESIM_HOST_BIN: join(target, "debug/tradesim-host"),
      TRADESIM_GUEST_WASM: join(target, "wasm32-unknown-unknown/release/tradesim_guest.wasm"),
      TRADESIM_ALLOWED_ORIGINS: `${allowedOrigin},http://127.0.0.1:${port}`,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`tradesim-dev did not start:\n${output}`)), 120_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("is running at")) {
        clearTimeout(timer);
        ready();
      }
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      fail(error);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`tradesim-dev exited with ${code}:\n${output}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((done) => setTimeout(done, 20_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    },
  };
}
