import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiClient } from "@/lib/api-client";
import { systemClock } from "@/lib/clock";
import { memoryStorage, storageKeys } from "@/lib/storage";
import type { Tokens } from "@/protocol";
import { AuthService } from "./auth-service";

function tokens(n: number): Tokens {
  return {
    access_token: `access-${n}`,
    token_type: "Bearer",
    expires_in: 600,
    refresh_token: `refresh-${n}`,
    user_id: "u_1",
    sign_in: "fam_1",
  };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("AuthService", () => {
  it("refreshes the access token a minute before it expires, and retries a 401 once with the new one", async () => {
    const calls: { path: string; authorization: string | null; body: string | null }[] = [];
    let issued = 0;
    const fetcher = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
      const path = String(url);
      const headers = (init?.headers ?? {}) as Record<string, string>;
      calls.push({ path, authorization: headers.Authorization ?? null, body: (init?.body as string | null) ?? null });
      if (path.endsWith("/login") || path.endsWith("/refresh")) return json(200, tokens(++issued));
      // The first access token has gone stale on the server.
      return headers.Authorization === "Bearer access-1"
        ? json(401, { code: "token_expired", message: "refresh it" })
        : json(200, { sessions: [] });
    });
    const storage = memoryStorage();
    const auth = new AuthService(storage, systemClock);
    const api = new ApiClient(auth, "", fetcher as typeof fetch);
    auth.attach(api);
    await auth.login("Demo", "tradesim-demo");
    expect(auth.state.current().user).toEqual({ userId: "u_1", username: "demo" });

    await expect(api.listSessions()).resolves.toEqual({ sessions: [] });
    expect(calls.map((call) => call.path)).toEqual([
      "/v1/auth/login",
      "/v1/sessions",
      "/v1/auth/refresh",
      "/v1/sessions",
    ]);
    expect(calls[2]!.body).toBe(JSON.stringify({ refresh_token: "refresh-1" }));
    expect(calls[3]!.authorization).toBe("Bearer access-2");

    await vi.advanceTimersByTimeAsync(539_000);
    expect(issued).toBe(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(issued).toBe(3);
    expect(JSON.parse(storage.getItem(storageKeys.auth)!).tokens.refresh_token).toBe("refresh-3");
  });

  it("signs out with the server's reason when the refresh token is refused", async () => {
    const fetcher = vi.fn(async (url: RequestInfo | URL) =>
      String(url).endsWith("/login")
        ? json(200, tokens(1))
        : json(401, { code: "refresh_token_reused", message: "this refresh token was already used; log in again" }),
    );
    const storage = memoryStorage();
    const auth = new AuthService(storage, systemClock);
    auth.attach(new ApiClient(auth, "", fetcher as typeof fetch));
    await auth.login("demo", "tradesim-demo");
    await expect(auth.refresh()).resolves.toBe(false);
    expect(auth.state.current()).toEqual({ user: null, notice: "this refresh token was already used; log in again" });
    expect(storage.getItem(storageKeys.auth)).toBeNull();
    // The reason survives a reload of the login page.
    expect(new AuthService(storage, systemClock).state.current().notice).toMatch(/already used/);
  });
});
