import { useCallback, useEffect, useState } from "react";
import { LoginPage } from "@/features/auth/LoginPage";
import { HomePage } from "@/features/session/HomePage";
import { ApiError, SESSION_GONE_CODES, SIGNED_OUT_CODES } from "@/lib/api-client";
import { useFrameStore } from "@/lib/frame-store";
import { navigate, usePathname } from "@/lib/router";
import { storageKeys } from "@/lib/storage";
import { Layout } from "./Layout";
import { createServices } from "./services";
import { SimulatorRoute } from "./SimulatorRoute";

const services = createServices();
const KEEP_ALIVE_MS = 60_000;

export function App() {
  const { auth, api, storage } = services;
  const { user, notice } = useFrameStore(auth.state);
  const path = usePathname();
  const simMatch = /^\/sim\/([A-Za-z0-9_-]{1,64})$/.exec(path);

  /** Signs out on an error only logging in again fixes; true if it did. */
  const onSignedOut = useCallback(
    (error: ApiError) => {
      if (SIGNED_OUT_CODES.has(error.code)) auth.signOut(error.message);
      else if (SESSION_GONE_CODES.has(error.code)) auth.signOut("Your session has expired; log in again to continue.");
      else return false;
      return true;
    },
    [auth],
  );

  // Keeps the current session from going idle while the app is open.
  useEffect(() => {
    if (!user) return;
    const beat = async () => {
      const session = storage.getItem(storageKeys.session);
      if (!session) return;
      try {
        await api.keepAlive(session);
      } catch (error) {
        if (error instanceof ApiError) onSignedOut(error);
      }
    };
    void beat();
    const timer = window.setInterval(() => void beat(), KEEP_ALIVE_MS);
    return () => window.clearInterval(timer);
  }, [user, api, storage, onSignedOut]);

  // A signed-in user on the home page with a simulator open before the reload goes back to it.
  const [resumed, setResumed] = useState(false);
  useEffect(() => {
    if (!user || resumed) return;
    setResumed(true);
    const last = storage.getItem(storageKeys.simulator);
    if (path === "/" && last) navigate(`/sim/${last}`, { replace: true });
  }, [user, resumed, path, storage]);

  if (!user) return <LoginPage auth={auth} notice={notice} />;

  const logout = () => {
    storage.removeItem(storageKeys.simulator);
    void auth.logout().finally(() => navigate("/"));
  };

  if (simMatch) {
    return (
      <SimulatorRoute
        key={simMatch[1]}
        sim={simMatch[1]!}
        services={services}
        username={user.username}
        onLogout={logout}
        onSignedOut={onSignedOut}
      />
    );
  }
  return (
    <Layout username={user.username} onLogout={logout}>
      <HomePage api={api} storage={storage} onOpen={(sim) => navigate(`/sim/${sim}`)} onSignedOut={onSignedOut} />
    </Layout>
  );
}
