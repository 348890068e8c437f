import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { loadavg } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { WebSocketServer, type WebSocket } from "ws";
import type { BookLevel, ClientMessage, EngineView, Event, ServerMessage } from "@/protocol";
import { artifacts, launchChromium } from "./browser";
import { freePort, startStack, type Stack } from "./stack";

/**
 * Figures, not pass/fail on time: how the screen copes with a fast stream. Each run lasts 30 s and reports the
 * frames per second, the longest main-thread task (PerformanceObserver "longtask") and whether every event was
 * applied. Printed, and written to e2e/artifacts/perf.json.
 */
const RUN_MS = 30_000;
const FEED_RATE = 1_000;

interface Figures {
  source: string;
  seconds: number;
  fps: number;
  /** The longest gap between two animation frames (requestAnimationFrame): bounds the tasks under 50 ms too. */
  longestFrameMs: number;
  longestTaskMs: number;
  longTasksOver50Ms: number;
  eventsApplied: number;
  eventsPerSecond: number;
  framesPerSecondReceived?: number;
  /** The machine's 1-minute load average before and after (2 cores, shared): the figures move with it. */
  load: [number, number];
  /** The five longest tasks, and the five longest animation frames with their scripts (where the time went). */
  slowestTasks: Slow[];
  slowestFrames: Slow[];
}

let stack: Stack;
let browser: Browser;
const results: Figures[] = [];

beforeAll(async () => {
  const port = await freePort();
  stack = await startStack(port, `http://127.0.0.1:${port}`);
  browser = await launchChromium();
});

afterAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  writeFileSync(join(artifacts, "perf.json"), JSON.stringify(results, null, 2));
  for (const figures of results) console.log(`[perf] ${JSON.stringify(figures)}`);
  await browser?.close();
  await stack?.stop();
});

/** Installed before the app loads: counts animation frames and records long tasks and long animation frames. */
function installProbe(): void {
  const fresh = () => ({
    frames: 0,
    /** The longest time between two animation frames: what a task under the long-task API's 50 ms threshold cost. */
    longestFrame: 0,
    lastFrameAt: 0,
    longest: 0,
    over50: 0,
    started: performance.now(),
    /** The longest tasks and animation frames of the run, with what ran in them (newest run only). */
    slowTasks: [] as Slow[],
    slowFrames: [] as Slow[],
  });
  const probe = { ...fresh(), reset: () => void Object.assign(probe, fresh()) };
  const keep = (list: Slow[], entry: Slow) => {
    list.push(entry);
    list.sort((a, b) => b.durationMs - a.durationMs);
    if (list.length > 5) list.length = 5;
  };
  Object.assign(window, { __probe: probe });
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      // Observers report a little late: what started before this run's reset belongs to the page's loading.
      if (entry.startTime < probe.started) continue;
      probe.longest = Math.max(probe.longest, entry.duration);
      if (entry.duration > 50) probe.over50 += 1;
      keep(probe.slowTasks, {
        atMs: Math.round(entry.startTime - probe.started),
        durationMs: Math.round(entry.duration),
      });
    }
  }).observe({ type: "longtask", buffered: false });
  // Long animation frames say what ran: each script's invoker, source and time, and the frame's style and layout.
  if (PerformanceObserver.supportedEntryTypes.includes("long-animation-frame"))
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const frame = entry as PerformanceEntry & {
          blockingDuration: number;
          renderStart: number;
          styleAndLayoutStart: number;
          scripts: {
            duration: number;
            invoker: string;
            invokerType: string;
            sourceURL: string;
            sourceFunctionName: string;
            sourceCharPosition: number;
            forcedStyleAndLayoutDuration: number;
          }[];
        };
        if (frame.startTime < probe.started) continue;
        const end = frame.startTime + frame.duration;
        keep(probe.slowFrames, {
          atMs: Math.round(frame.startTime - probe.started),
          durationMs: Math.round(frame.duration),
          blockingMs: Math.round(frame.blockingDuration),
          renderMs: frame.renderStart ? Math.round(end - frame.renderStart) : 0,
          styleLayoutMs: frame.styleAndLayoutStart ? Math.round(end - frame.styleAndLayoutStart) : 0,
          scripts: frame.scripts
            .filter((script) => script.duration >= 2)
            .map(
              (script) =>
                `${Math.round(script.duration)} ms ${script.invokerType} ${script.invoker} ` +
                `${script.sourceFunctionName}@${script.sourceURL.split("/").pop()}:${script.sourceCharPosition}` +
                (script.forcedStyleAndLayoutDuration
                  ? ` (forced layout ${Math.round(script.forcedStyleAndLayoutDuration)} ms)`
                  : ""),
            ),
        });
      }
    }).observe({ type: "long-animation-frame", buffered: false });
  const tick = (now: number) => {
    probe.frames += 1;
    if (probe.lastFrameAt > 0 && probe.lastFrameAt >= probe.started)
      probe.longestFrame = Math.max(probe.longestFrame, now - probe.lastFrameAt);
    probe.lastFrameAt = now;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

/** A long task or long animation frame: when in the run it started, how long, and what ran in it. */
interface Slow {
  atMs: number;
  durationMs: number;
  blockingMs?: number;
  renderMs?: number;
  styleLayoutMs?: number;
  scripts?: string[];
}

interface PageProbe {
  frames: number;
  longestFrame: number;
  lastFrameAt: number;
  longest: number;
  over50: number;
  started: number;
  elapsedMs: number;
  events: number;
  slowTasks: Slow[];
  slowFrames: Slow[];
}

async function readProbe(page: Page): Promise<PageProbe> {
  return page.evaluate(() => {
    const { reset, ...probe } = (
      window as unknown as { __probe: Omit<PageProbe, "events" | "elapsedMs"> & { reset(): void } }
    ).__probe;
    void reset;
    const app = (
      window as unknown as { __tradesim?: { store: { snapshot: { current(): { eventsApplied: number } } } } }
    ).__tradesim;
    return {
      ...probe,
      elapsedMs: performance.now() - probe.started,
      events: app?.store.snapshot.current().eventsApplied ?? 0,
    };
  });
}

async function resetProbe(page: Page): Promise<void> {
  await page.evaluate(() => (window as unknown as { __probe: { reset(): void } }).__probe.reset());
}

async function measure(page: Page, source: string): Promise<Figures> {
  const loadBefore = loadavg()[0]!;
  // PERF_TRACE=1 also records a Chromium trace of the run (open it in DevTools' Performance panel); it slows the page.
  const trace = process.env.PERF_TRACE ? join(artifacts, `trace-${results.length}.json`) : null;
  if (trace) {
    mkdirSync(artifacts, { recursive: true });
    await browser.startTracing(page, {
      path: trace,
      categories: (process.env.PERF_TRACE_CATEGORIES ?? "devtools.timeline,v8.execute,toplevel").split(","),
    });
  }
  if (process.env.PERF_HIDE)
    await page.addStyleTag({ content: `${process.env.PERF_HIDE} { display: none !important; }` });
  await resetProbe(page);
  const before = await readProbe(page);
  await page.waitForTimeout(RUN_MS);
  const after = await readProbe(page);
  if (trace) await browser.stopTracing();
  const seconds = Math.round(after.elapsedMs / 100) / 10;
  const figures: Figures = {
    source,
    seconds,
    fps: Math.round((after.frames / seconds) * 10) / 10,
    longestFrameMs: Math.round(after.longestFrame),
    longestTaskMs: Math.round(after.longest),
    longTasksOver50Ms: after.over50,
    eventsApplied: after.events - before.events,
    eventsPerSecond: Math.round((after.events - before.events) / seconds),
    load: [Math.round(loadBefore * 10) / 10, Math.round(loadavg()[0]! * 10) / 10],
    slowestTasks: after.slowTasks,
    slowestFrames: after.slowFrames,
  };
  results.push(figures);
  return figures;
}

async function logInAndStart(page: Page, url: string, speed: string): Promise<void> {
  await page.goto(url);
  await page.locator("input[name=username]").fill("demo");
  await page.locator("input[name=password]").fill("tradesim-demo");
  await page.getByRole("button", { name: "Log in" }).last().click();
  await page.getByRole("heading", { name: "Start a simulator" }).waitFor();
  await page.locator("select[name=speed]").selectOption(speed);
  await page.getByRole("button", { name: "Start simulator" }).click();
  await page.waitForURL(/\/sim\//, { timeout: 60_000 });
}

/**
 * A local server in front of the stack: the API goes through to tradesim-dev, but the stream is a synthetic feed
 * of `rate` one-event `events` messages per second (book changes, some trades), so the browser's connection
 * manager, store and rendering see exactly that rate.
 */
interface Feed {
  server: Server;
  port: number;
  /** Messages sent so far; the last seq sent is one more (the snapshot stands at seq 1). */
  sent: () => number;
  stop: () => void;
}

function startFeed(target: number, rate: number): Promise<Feed> {
  let sent = 0;
  let stopped = false;
  const sockets = new WebSocketServer({ noServer: true });
  const server = createServer((incoming, outgoing) => {
    const upstream = request(
      { host: "127.0.0.1", port: target, path: incoming.url, method: incoming.method, headers: incoming.headers },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on("error", () => outgoing.destroy());
    incoming.pipe(upstream);
  });
  server.on("upgrade", (incoming, socket, head) => sockets.handleUpgrade(incoming, socket, head, (ws) => feed(ws)));

  const feed = (ws: WebSocket) => {
    let seq = 1;
    let timer: ReturnType<typeof setInterval> | null = null;
    const send = (message: ServerMessage) => ws.send(JSON.stringify({ v: 1, ...message }));
    ws.on("message", (data) => {
      const message = JSON.parse(String(data)) as ClientMessage;
      if (message.type === "ping") send({ type: "pong", nonce: message.nonce });
      if (message.type !== "hello" || timer) return;
      const levels = (from: number, step: number): BookLevel[] =>
        Array.from({ length: 20 }, (_, index) => ({ price: from + index * step, qty: 10 + index, orders: 1 }));
      const view: EngineView = {
        participant: 1,
        seq,
        step: 0,
        time_ms: 0,
        books: [
          {
            instrument: 0,
            bids: levels(9_999, -1),
            asks: levels(10_001, 1),
            last_trade_price: 10_000,
            status: { instrument: 0, halted: false, resumes_at_ms: null },
          },
        ],
        open_orders: [],
        account: {
          participant: 1,
          cash: 100_000_000,
          equity: 100_000_000,
          buying_power: 200_000_000,
          realized_pnl: 0,
          unrealized_pnl: 0,
          fees_paid: 0,
          positions: [],
        },
      };
      send({
        type: "welcome",
        sim: message.sim,
        seq,
        resume: "snapshot",
        state: "running",
        speed: "1x",
        heartbeat_ms: 5_000,
        dead_after_ms: 12_000,
      });
      send({ type: "snapshot", seq, chunk: 0, chunks: 1, data: JSON.stringify(view) });
      const started = Date.now();
      let sentHere = 0;
      timer = setInterval(() => {
        // Catch up on what the timer's lateness held back, so the rate holds on a busy machine.
        const due = Math.floor(((Date.now() - started) * rate) / 1000) - sentHere;
        for (let index = 0; index < due && !stopped; index++) {
          sentHere += 1;
          seq += 1;
          const time_ms = seq;
          const event: Event =
            seq % 20 === 0
              ? {
                  seq,
                  time_ms,
                  type: "trade",
                  trade_id: seq,
                  instrument: 0,
                  price: 10_000 + (seq % 7) - 3,
                  qty: 1 + (seq % 5),
                  aggressor: seq % 40 === 0 ? "buy" : "sell",
                }
              : {
                  seq,
                  time_ms,
                  type: "book_delta",
                  instrument: 0,
                  side: seq % 2 ? "buy" : "sell",
                  price: seq % 2 ? 9_999 - (seq % 20) : 10_001 + (seq % 20),
                  qty: seq % 9 === 0 ? 0 : 5 + (seq % 50),
                  orders: 1 + (seq % 3),
                };
          send({ type: "events", from: seq, to: seq, events: [event] });
          sent += 1;
        }
      }, 10);
    });
    ws.on("close", () => timer && clearInterval(timer));
  };

  return new Promise((done) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      done({
        server,
        port: typeof address === "object" && address ? address.port : 0,
        sent: () => sent,
        stop: () => void (stopped = true),
      });
    }),
  );
}

describe("the trading screen under a fast stream", () => {
  it("keeps up with the simulator at 100x through the real stack", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.addInitScript(installProbe);
    await logInAndStart(page, stack.url, "100x");
    await expect.poll(() => page.getByTestId("connection-label").textContent(), { timeout: 60_000 }).toBe("live");
    const figures = await measure(page, "tradesim-dev, simulator at 100x");
    expect(figures.eventsApplied).toBeGreaterThan(0);
    expect(await page.getByTestId("connection-label").textContent()).toBe("live");
    await page.close();
  });

  it(`keeps up with ${FEED_RATE} market-data messages per second from a local feed`, async () => {
    const feed = await startFeed(stack.port, FEED_RATE);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.addInitScript(installProbe);
    await logInAndStart(page, `http://127.0.0.1:${feed.port}`, "paused");
    await expect.poll(() => page.getByTestId("connection-label").textContent(), { timeout: 60_000 }).toBe("live");
    const sentBefore = feed.sent();
    const figures = await measure(page, `local feed, ${FEED_RATE} events messages/s`);
    figures.framesPerSecondReceived = Math.round((feed.sent() - sentBefore) / figures.seconds);
    // Every message sent is applied, in order, none dropped, on the same connection.
    feed.stop();
    const link = () =>
      page.evaluate(() => {
        const app = (
          window as unknown as {
            __tradesim: { manager: { view: { current(): { lastSeq: number; phase: string; attempt: number } } } };
          }
        ).__tradesim;
        const { lastSeq, phase, attempt } = app.manager.view.current();
        return { lastSeq, phase, attempt };
      });
    await expect.poll(link, { timeout: 60_000 }).toEqual({ lastSeq: feed.sent() + 1, phase: "live", attempt: 0 });
    await page.close();
    feed.server.closeAllConnections();
    await new Promise((done) => feed.server.close(done));
  });
});
