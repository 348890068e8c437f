import { describe, expect, it } from "vitest";
import { indicatorFor } from "./ConnectionIndicator";

const base = { attempt: 0, retryAt: null, stale: false, message: null };

describe("the connection indicator", () => {
  it("names every state the header shows", () => {
    expect(indicatorFor({ ...base, phase: "live" }, 0)).toEqual({ tone: "up", label: "live" });
    expect(indicatorFor({ ...base, phase: "live", stale: true }, 0)).toEqual({ tone: "warn", label: "unstable" });
    expect(indicatorFor({ ...base, phase: "offline" }, 0).label).toBe("offline");
    expect(indicatorFor({ ...base, phase: "expired" }, 0).label).toBe("session expired");
    expect(indicatorFor({ ...base, phase: "connecting", attempt: 2 }, 0).label).toBe("reconnecting · attempt 2");
  });

  it("counts down to the next attempt from the time it is given, never below zero", () => {
    const view = { ...base, phase: "reconnecting" as const, attempt: 3, retryAt: 10_000 };
    expect(indicatorFor(view, 7_650).label).toBe("reconnecting · attempt 3 in 2.4 s");
    expect(indicatorFor(view, 12_000).label).toBe("reconnecting · attempt 3 in 0.0 s");
  });
});
