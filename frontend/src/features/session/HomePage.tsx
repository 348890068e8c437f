import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiError, type ApiClient } from "@/lib/api-client";
import { DataTable, type Column } from "@/lib/DataTable";
import { rememberConfig, SCENARIOS, standardConfig } from "@/lib/sim-config";
import { storageKeys, type KeyValueStorage } from "@/lib/storage";
import type { Scenario, Session, Simulator, Speed } from "@/protocol";

const SPEEDS: Speed[] = ["1x", "2x", "5x", "10x", "100x", "paused"];

interface Props {
  api: ApiClient;
  storage: KeyValueStorage;
  onOpen: (sim: string) => void;
  /** An API error that only logging in again fixes. */
  onSignedOut: (error: ApiError) => boolean;
}

/** Sessions, starting or resuming a simulator, and the running simulators. */
export function HomePage({ api, storage, onOpen, onSignedOut }: Props) {
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const [simulators, setSimulators] = useState<Simulator[] | null>(null);
  const [scenario, setScenario] = useState<Scenario>("calm");
  const [speed, setSpeed] = useState<Speed>("1x");
  const [seed, setSeed] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const lastSim = storage.getItem(storageKeys.simulator);

  const fail = useCallback(
    (caught: unknown) => {
      if (caught instanceof ApiError && onSignedOut(caught)) return;
      setError(caught instanceof Error ? caught.message : "Something went wrong; try again.");
    },
    [onSignedOut],
  );

  const reload = useCallback(async () => {
    try {
      const [sessionList, simulatorList] = await Promise.all([api.listSessions(), api.listSimulators()]);
      setSessions(sessionList.sessions);
      setSimulators(simulatorList.simulators);
    } catch (caught) {
      fail(caught);
    }
  }, [api, fail]);

  useEffect(() => {
    void reload();
  }, [reload]);

  const activeSession = sessions?.find((session) => session.state === "active") ?? null;

  const start = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    if (seed.trim() !== "" && !/^\d{1,15}$/.test(seed.trim())) {
      setError("The seed is a whole number of up to 15 digits; leave it empty for a random market.");
      return;
    }
    setBusy(true);
    try {
      const session = activeSession ?? (await api.createSession());
      storage.setItem(storageKeys.session, session.id);
      const config = standardConfig(scenario);
      const simulator = await api.startSimulator({
        session_id: session.id,
        config,
        seed: seed.trim() === "" ? null : Number(seed.trim()),
        speed,
      });
      rememberConfig(storage, simulator.id, config);
      onOpen(simulator.id);
    } catch (caught) {
      fail(caught);
      void reload();
    } finally {
      setBusy(false);
    }
  };

  const stop = async (sim: string) => {
    try {
      await api.stopSimulator(sim);
    } catch (caught) {
      fail(caught);
    }
    void reload();
  };

  const newSession = async () => {
    try {
      const session = await api.createSession();
      storage.setItem(storageKeys.session, session.id);
    } catch (caught) {
      fail(caught);
    }
    void reload();
  };

  const running = simulators?.filter((sim) => sim.state !== "stopped") ?? [];
  const simulatorColumns: Column<Simulator>[] = [
    { title: "Simulator", cell: (sim) => `${sim.id.slice(0, 16)}…`, tone: () => "mono" },
    { title: "State", cell: (sim) => sim.state },
    { title: "Started", cell: (sim) => new Date(sim.created_at_ms).toLocaleTimeString() },
    {
      title: "",
      tone: () => "actions",
      cell: (sim) => (
        <>
          <button type="button" onClick={() => onOpen(sim.id)}>
            Open
          </button>
          <button type="button" className="danger" onClick={() => void stop(sim.id)}>
            Stop
          </button>
        </>
      ),
    },
  ];
  const sessionColumns: Column<Session>[] = [
    { title: "Session", cell: (session) => `${session.id.slice(0, 16)}…`, tone: () => "mono" },
    {
      title: "State",
      cell: (session) => session.state,
      tone: (session) => (session.state === "active" ? "up" : "muted"),
    },
    { title: "Idle deadline", cell: (session) => new Date(session.idle_deadline_ms).toLocaleTimeString() },
  ];

  return (
    <main className="home">
      <section className="panel">
        <h2>Start a simulator</h2>
        <form className="start-form" onSubmit={start}>
          <label>
            Scenario
            <select name="scenario" value={scenario} onChange={(event) => setScenario(event.target.value as Scenario)}>
              {SCENARIOS.map((option) => (
                <option key={option.value} value={option.value}>
                  {option.label}
                </option>
              ))}
            </select>
          </label>
          <label>
            Speed
            <select name="speed" value={speed} onChange={(event) => setSpeed(event.target.value as Speed)}>
              {SPEEDS.map((option) => (
                <option key={option}>{option}</option>
              ))}
            </select>
          </label>
          <label>
            Seed (optional)
            <input
              name="seed"
              inputMode="numeric"
              placeholder="random"
              value={seed}
              onChange={(event) => setSeed(event.target.value)}
            />
          </label>
          <button className="primary" type="submit" disabled={busy}>
            {busy ? "Starting…" : "Start simulator"}
          </button>
        </form>
        {error && (
          <p className="notice error" role="alert">
            {error}
          </p>
        )}
        {lastSim && running.some((sim) => sim.id === lastSim) && (
          <p>
            <button type="button" onClick={() => onOpen(lastSim)}>
              Resume your last simulator
            </button>
          </p>
        )}
      </section>

      <section className="panel">
        <h2>Running simulators</h2>
        {simulators === null ? (
          <p className="muted">Loading…</p>
        ) : running.length === 0 ? (
          <p className="muted">None yet: start one above.</p>
        ) : (
          <DataTable
            testId="simulators"
            compact={false}
            columns={simulatorColumns}
            rows={running}
            rowKey={(sim) => sim.id}
          />
        )}
      </section>

      <section className="panel">
        <h2>Sessions</h2>
        {sessions === null ? (
          <p className="muted">Loading…</p>
        ) : (
          <>
            <DataTable
              compact={false}
              columns={sessionColumns}
              rows={sessions.slice(0, 8)}
              rowKey={(session) => session.id}
            />
            {!activeSession && <p className="muted">No active session: starting a simulator opens one.</p>}
            <button type="button" onClick={() => void newSession()}>
              New session
            </button>
          </>
        )}
      </section>
    </main>
  );
}
