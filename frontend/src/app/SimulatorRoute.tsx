import { useEffect, useMemo } from "react";
import { ConnectionIndicator, StreamStatus } from "@/features/connection/ConnectionIndicator";
import { browserNetwork, openGatewaySocket } from "@/features/connection/browser";
import { ConnectionManager, type ConnectionView } from "@/features/connection/connection-manager";
import type { LinkInfo, TradingActions } from "@/features/trading/link";
import { TradingScreen } from "@/features/trading/TradingScreen";
import { TradingStore } from "@/features/trading/trading-store";
import { ApiError } from "@/lib/api-client";
import { systemClock } from "@/lib/clock";
import { useFrameStoreSelector } from "@/lib/frame-store";
import { navigate } from "@/lib/router";
import { recallConfig, rememberConfig, standardConfig } from "@/lib/sim-config";
import { storageKeys } from "@/lib/storage";
import type { Scenario } from "@/protocol";
import { Layout } from "./Layout";
import type { Services } from "./services";

/** What this page renders from the link: not the seq or the round trip, which change every frame (the footer's). */
const routeView = (view: ConnectionView) => ({
  phase: view.phase,
  message: view.message,
  started: view.lastSeq > 0,
  stale: view.stale,
  inFlight: view.inFlight,
  simState: view.simState,
  speed: view.speed,
});

interface Props {
  sim: string;
  services: Services;
  username: string;
  onLogout: () => void;
  onSignedOut: (error: ApiError) => boolean;
}

/** One simulator: its stream (connection feature) feeding its trading screen (trading feature). */
export function SimulatorRoute({ sim, services, username, onLogout, onSignedOut }: Props) {
  const { api, storage, auth } = services;
  const knownConfig = useMemo(() => recallConfig(storage, sim), [storage, sim]);
  const config = useMemo(() => knownConfig ?? standardConfig("calm"), [knownConfig]);

  const { store, manager } = useMemo(() => {
    const store = new TradingStore();
    const manager = new ConnectionManager({
      sim,
      sink: store,
      clock: systemClock,
      random: Math.random,
      storage,
      fetchTicket: async (id) => (await api.ticket(id)).ticket,
      openSocket: openGatewaySocket,
      network: browserNetwork,
    });
    return { store, manager };
  }, [sim, api, storage]);

  useEffect(() => {
    storage.setItem(storageKeys.simulator, sim);
    if (!knownConfig)
      store.notice("This simulator was started elsewhere: prices and limits are assumed to be the standard ones.");
    manager.start();
    const persist = () => manager.persistNow();
    window.addEventListener("pagehide", persist);
    // A handle for the browser tests' figures (docs/frontend.md); nothing in the app reads it.
    Object.assign(window, { __tradesim: { manager, store } });
    return () => {
      window.removeEventListener("pagehide", persist);
      manager.dispose();
    };
  }, [manager, store, sim, storage, knownConfig]);

  const view = useFrameStoreSelector(manager.view, routeView);

  useEffect(() => {
    if (view.phase === "expired") auth.signOut(view.message ?? "Your session has expired; log in again.");
  }, [view.phase, view.message, auth]);

  const actions = useMemo((): TradingActions => {
    const refuse = (reason: string) => store.notice(reason);
    const failed = (error: unknown, fallback: string) => {
      if (!(error instanceof ApiError && onSignedOut(error))) refuse(error instanceof Error ? error.message : fallback);
    };
    return {
      submit: (entry) => {
        store.orderSent(entry);
        const gate = manager.submitOrder(entry);
        if (!gate.ok) refuse(gate.reason);
      },
      cancel: (row) => {
        const order = row.clientOrderId ? { client_order_id: row.clientOrderId } : { order_id: row.orderId ?? 0 };
        const gate = manager.request({ type: "cancel", sim, order, request_id: null });
        if (!gate.ok) refuse(gate.reason);
      },
      cancelAll: () => {
        const gate = manager.request({ type: "mass_cancel", sim, instrument: null, side: null, request_id: null });
        if (!gate.ok) refuse(gate.reason);
      },
      amend: (row, qty, price) => {
        const order = row.clientOrderId ? { client_order_id: row.clientOrderId } : { order_id: row.orderId ?? 0 };
        const gate = manager.request({ type: "amend", sim, order, qty, price, request_id: null });
        if (!gate.ok) refuse(gate.reason);
      },
      setSpeed: (speed) => {
        const gate = manager.request({ type: "set_speed", sim, speed });
        if (!gate.ok) refuse(gate.reason);
      },
      stop: async () => {
        try {
          await api.stopSimulator(sim);
          storage.removeItem(storageKeys.simulator);
          navigate("/");
        } catch (error) {
          failed(error, "Could not stop it; try again.");
        }
      },
      restart: async (scenario: Scenario) => {
        try {
          const storedSession = storage.getItem(storageKeys.session);
          const sessions = await api.listSessions();
          const session =
            sessions.sessions.find((entry) => entry.id === storedSession && entry.state === "active") ??
            sessions.sessions.find((entry) => entry.state === "active") ??
            (await api.createSession());
          storage.setItem(storageKeys.session, session.id);
          const next = standardConfig(scenario);
          const speed = manager.view.current().speed ?? "1x";
          const started = await api.startSimulator({ session_id: session.id, config: next, seed: null, speed });
          rememberConfig(storage, started.id, next);
          navigate(`/sim/${started.id}`);
        } catch (error) {
          failed(error, "Could not start it; try again.");
        }
      },
    };
  }, [manager, store, api, storage, sim, onSignedOut]);

  // The screen re-renders on what changes its behaviour, not on every seq.
  const { phase, stale, inFlight, simState, speed } = view;
  const link = useMemo((): LinkInfo => {
    const live = phase === "live";
    return { gate: manager.orderGate(), inFlight, stale: !live || stale, live, simState, speed };
  }, [manager, phase, stale, inFlight, simState, speed]);
  return (
    <Layout
      username={username}
      onLogout={onLogout}
      status={<ConnectionIndicator manager={manager} />}
      footer={<StreamStatus manager={manager} />}
    >
      {view.phase === "stopped" ? (
        <section className="panel center">
          <h2>This simulator is stopped</h2>
          <p className="muted">{view.message}</p>
          <button type="button" className="primary" onClick={() => navigate("/")}>
            Back to home
          </button>
        </section>
      ) : !view.started && (view.phase === "connecting" || view.phase === "syncing") ? (
        <section className="panel center" data-testid="loading">
          <p className="muted">Connecting to the simulator…</p>
        </section>
      ) : (
        <TradingScreen store={store} config={config} link={link} actions={actions} />
      )}
    </Layout>
  );
}
