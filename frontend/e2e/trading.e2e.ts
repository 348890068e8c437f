import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import WebSocket from "ws";
import type { EngineView, ServerMessage, Ticket, Tokens } from "@/protocol";
import { launchChromium, screenshots } from "./browser";
import { CuttableProxy } from "./proxy";
import { freePort, startStack, type Stack } from "./stack";

let stack: Stack;
let proxy: CuttableProxy;
let browser: Browser;
let page: Page;
/** The app's origin: the proxy in front of the gateway, so the test can cut the browser's network. */
let appUrl: string;

beforeAll(async () => {
  const gatewayPort = await freePort();
  proxy = new CuttableProxy(gatewayPort);
  const proxyPort = await proxy.listen();
  appUrl = `http://127.0.0.1:${proxyPort}`;
  stack = await startStack(gatewayPort, appUrl);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
});

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await stack?.stop();
});

/** What the server says the user's working orders are: a fresh snapshot over a stream of its own. */
async function serverOpenOrders(sim: string): Promise<string[]> {
  const post = async <T>(path: string, body: unknown, token?: string): Promise<T> => {
    const response = await fetch(`${stack.url}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    expect(response.ok, `${path}: ${response.status}`).toBe(true);
    return (await response.json()) as T;
  };
  const tokens = await post<Tokens>("/v1/auth/login", { username: "demo", password: "tradesim-demo" });
  const ticket = await post<Ticket>("/v1/tickets", { sim }, tokens.access_token);
  const socket = new WebSocket(`ws://127.0.0.1:${stack.port}/ws?sim=${sim}&ticket=${ticket.ticket}`);
  const view = await new Promise<EngineView>((done, fail) => {
    const chunks: string[] = [];
    socket.on("open", () => socket.send(JSON.stringify({ v: 1, type: "hello", sim, last_seq: 0 })));
    socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as ServerMessage;
      if (message.type !== "snapshot") return;
      chunks.push(message.data);
      if (chunks.length === message.chunks) done(JSON.parse(chunks.join("")) as EngineView);
    });
    socket.on("error", fail);
  });
  socket.close();
  return view.open_orders.map((order) => order.client_order_id ?? `#${order.order_id}`).sort();
}

async function blotterOrderIds(): Promise<string[]> {
  await page.getByRole("tab", { name: /Open orders/ }).click();
  const ids = await page
    .locator("[data-testid=open-orders] tbody tr")
    .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-client-order-id") ?? ""));
  return ids.sort();
}

async function bestBid(): Promise<number> {
  const price = await page.locator(".ladder-row.best-bid").first().getAttribute("data-price", { timeout: 30_000 });
  return Number(price);
}

async function seq(): Promise<number> {
  return Number(await page.getByTestId("seq").textContent());
}

async function placeOrder(form: { side: "Buy" | "Sell"; type: string; qty: string; price?: string }): Promise<void> {
  const entry = page.getByTestId("order-entry");
  await entry.getByRole("button", { name: form.side, exact: true }).click();
  await entry.locator("select[name=type]").selectOption(form.type);
  await entry.locator("input[name=qty]").fill(form.qty);
  if (form.price !== undefined) await entry.locator("input[name=price]").fill(form.price);
  await page.getByTestId("submit-order").click();
}

describe("the trading SPA against tradesim-dev", () => {
  let sim = "";

  it("logs in, starts a simulator and sees the book move", async () => {
    await page.goto(appUrl);
    await page.getByRole("button", { name: "Log in" }).last().waitFor();
    await screenshots(page, "login");
    await page.locator("input[name=username]").fill("demo");
    await page.locator("input[name=password]").fill("wrong-password");
    await page.getByRole("button", { name: "Log in" }).last().click();
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/username or password is wrong/);
    await page.locator("input[name=password]").fill("tradesim-demo");
    await page.getByRole("button", { name: "Log in" }).last().click();
    await page.getByRole("heading", { name: "Start a simulator" }).waitFor();
    await screenshots(page, "home");

    await page.locator("select[name=speed]").selectOption("10x");
    await page.locator("input[name=seed]").fill("42");
    await page.getByRole("button", { name: "Start simulator" }).click();
    await page.waitForURL(/\/sim\//, { timeout: 60_000 });
    sim = page.url().split("/sim/")[1]!;
    await expect.poll(() => page.getByTestId("connection-label").textContent(), { timeout: 60_000 }).toBe("live");
    const firstBid = await bestBid();
    const firstSeq = await seq();
    expect(firstBid).toBeGreaterThan(0);
    await expect.poll(seq, { timeout: 30_000 }).toBeGreaterThan(firstSeq + 20);
    await expect
      .poll(() => page.locator("[data-testid=tape] tbody tr").count(), { timeout: 30_000 })
      .toBeGreaterThan(0);
  });

  it("places a limit order and sees it on the blotter and the ladder", async () => {
    const price = (await bestBid()) - 20;
    await placeOrder({ side: "Buy", type: "limit", qty: "5", price: (price / 100).toFixed(2) });
    const blotterRow = page.locator("[data-testid=open-orders] tbody tr").first();
    await expect.poll(() => blotterRow.locator("td").nth(7).textContent(), { timeout: 30_000 }).toBe("new");
    await expect.poll(() => blotterRow.locator("td").first().textContent()).toMatch(/^\d+$/);
    // The ladder renders only the rows in view: stop following the spread and scroll down to the order's price.
    await page.getByRole("button", { name: "following" }).click();
    const row = page.locator(`.ladder-row[data-price="${price}"]`);
    for (let step = 0; step < 60 && (await row.count()) === 0; step++) {
      await page.locator(".ladder-viewport").evaluate((viewport) => viewport.scrollBy(0, 90));
    }
    // The order shows on its ladder row, with the quantity resting ahead of it.
    const mine = row.locator(".mine.buy");
    await expect.poll(() => mine.textContent(), { timeout: 30_000 }).toMatch(/^5/);
  });

  it("amends the order's quantity, after refusing an amend the engine would refuse", async () => {
    const blotterRow = page.locator("[data-testid=open-orders] tbody tr").first();
    await blotterRow.getByRole("button", { name: "Amend" }).click();
    const qty = blotterRow.getByLabel("new quantity");
    await qty.fill("0");
    await qty.press("Enter");
    await expect.poll(() => blotterRow.getByRole("alert").textContent()).toMatch(/whole quantity above 0/);
    await qty.fill("7");
    await qty.press("Enter");
    await expect.poll(() => blotterRow.locator("td").nth(4).textContent(), { timeout: 30_000 }).toBe("7");
  });

  it("fills a market order and updates the position and P&L", async () => {
    await placeOrder({ side: "Buy", type: "market", qty: "3" });
    await page.getByRole("tab", { name: "Fills" }).click();
    await expect
      .poll(() => page.locator("[data-testid=fills] tbody tr").count(), { timeout: 30_000 })
      .toBeGreaterThan(0);
    await page.getByRole("tab", { name: "Positions" }).click();
    const position = page.locator("[data-testid=positions] tbody tr").first();
    await expect.poll(() => position.locator("td").nth(1).textContent(), { timeout: 30_000 }).toMatch(/^[1-9]\d*$/);
    await expect.poll(() => page.getByTestId("unrealized-pnl").textContent()).toMatch(/^-?[\d,]+\.\d\d$/);
    await screenshots(page, "simulator");
  });

  it("shows reconnecting and blocks orders when the link is cut, then resumes with the blotter matching the server", async () => {
    await page.getByRole("tab", { name: /Open orders/ }).click();
    // An order sent as the link dies: it reaches the server, but its ack never comes back on this connection.
    const price = (await bestBid()) - 25;
    proxy.stall();
    await placeOrder({ side: "Buy", type: "limit", qty: "2", price: (price / 100).toFixed(2) });
    await page.waitForTimeout(500);
    proxy.cut();
    const unknown = page.locator("[data-testid=open-orders] tbody tr", { hasText: "unknown, reconciling" });
    await expect.poll(() => unknown.count(), { timeout: 15_000 }).toBe(1);
    await expect
      .poll(() => page.getByTestId("connection-label").textContent(), { timeout: 15_000 })
      .toMatch(/reconnecting/);
    await expect.poll(() => page.getByTestId("order-blocked").textContent()).toMatch(/Not connected|Catching up/);
    expect(await page.getByTestId("submit-order").isDisabled()).toBe(true);
    await page.getByTestId("stale").waitFor();
    await screenshots(page, "reconnecting");
    await page.waitForTimeout(2_000);
    proxy.restore();
    await expect.poll(() => page.getByTestId("connection-label").textContent(), { timeout: 30_000 }).toBe("live");
    await expect.poll(() => page.getByTestId("submit-order").isDisabled(), { timeout: 30_000 }).toBe(false);
    const server = await serverOpenOrders(sim);
    await expect.poll(blotterOrderIds, { timeout: 30_000 }).toEqual(server);
    expect(new Set(server).size).toBe(server.length);
    expect(server.length).toBeGreaterThanOrEqual(2);
    expect(await unknown.count()).toBe(0);
  });

  it("lands on the same simulator with the same orders after a reload, cancels them all, and logs out", async () => {
    const before = await blotterOrderIds();
    await page.reload();
    expect(page.url()).toBe(`${appUrl}/sim/${sim}`);
    await expect.poll(() => page.getByTestId("connection-label").textContent(), { timeout: 30_000 }).toBe("live");
    await expect.poll(blotterOrderIds, { timeout: 30_000 }).toEqual(before);
    await page.getByRole("button", { name: "Cancel all" }).click();
    await expect.poll(blotterOrderIds, { timeout: 30_000 }).toEqual([]);
    expect(await serverOpenOrders(sim)).toEqual([]);
    await page.getByTestId("logout").click();
    await page.locator("input[name=username]").waitFor();
  });
});
