import { useState, type FormEvent } from "react";
import { ApiError } from "@/lib/api-client";
import type { AuthService } from "./auth-service";

interface Props {
  auth: AuthService;
  notice: string | null;
}

/** Log in or create an account. Errors say what to fix. */
export function LoginPage({ auth, notice }: Props) {
  const [mode, setMode] = useState<"login" | "register">("login");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    if (mode === "register" && password.length < 10) {
      setError("Choose a password of at least 10 characters.");
      return;
    }
    setBusy(true);
    try {
      if (mode === "login") await auth.login(username, password);
      else await auth.register(username, password);
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : "Something went wrong; try again.");
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <form className="panel login-card" onSubmit={submit} aria-label={mode === "login" ? "Log in" : "Sign up"}>
        <h1 className="brand">tradesim</h1>
        <p className="muted">A private exchange with a live simulated market.</p>
        {notice && (
          <p className="notice warn" role="status" data-testid="login-notice">
            {notice}
          </p>
        )}
        <div className="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={mode === "login"} onClick={() => setMode("login")}>
            Log in
          </button>
          <button type="button" role="tab" aria-selected={mode === "register"} onClick={() => setMode("register")}>
            Sign up
          </button>
        </div>
        <label>
          Username
          <input
            name="username"
            autoComplete="username"
            value={username}
            onChange={(event) => setUsername(event.target.value)}
            required
            minLength={3}
            maxLength={32}
            autoFocus
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={mode === "login" ? "current-password" : "new-password"}
            value={password}
            onChange={(event) => setPassword(event.target.value)}
            required
          />
        </label>
        {mode === "register" && (
          <p className="hint">3–32 letters, digits, . - _; a password of 10 to 128 characters.</p>
        )}
        {error && (
          <p className="notice error" role="alert">
            {error}
          </p>
        )}
        <button className="primary" type="submit" disabled={busy}>
          {busy ? "Please wait…" : mode === "login" ? "Log in" : "Create account"}
        </button>
        <p className="hint">Local stack: demo / tradesim-demo</p>
      </form>
    </main>
  );
}
