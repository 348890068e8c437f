import type {
  Credentials,
  ErrorBody,
  Session,
  SessionList,
  SimulatorList,
  SimulatorStatus,
  Simulator,
  StartSimulator,
  Ticket,
  Tokens,
  User,
} from "@/protocol";

/** A refusal from the control plane, with its stable code and the message for people. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Codes after which only logging in again helps. */
export const SIGNED_OUT_CODES = new Set([
  "unauthenticated",
  "invalid_token",
  "invalid_refresh_token",
  "refresh_token_reused",
]);
/** Codes that end a session's simulators: start a new session. */
export const SESSION_GONE_CODES = new Set(["session_expired", "session_ended"]);

/** Where the client gets its access token, and what it does when the server says it has expired. */
export interface AccessTokens {
  accessToken(): string | null;
  /** Refreshes the pair; false when the sign-in is gone. */
  refresh(): Promise<boolean>;
}

type Method = "GET" | "POST" | "DELETE";

/** The control plane's HTTP API (`/v1/...`, described by `/v1/openapi.json`). */
export class ApiClient {
  constructor(
    private readonly tokens: AccessTokens | null = null,
    private readonly baseUrl = "",
    private readonly fetcher: typeof fetch = (...args) => fetch(...args),
  ) {}

  private async request<T>(method: Method, path: string, body?: unknown, authenticated = true): Promise<T> {
    const send = async () => {
      const headers: Record<string, string> = {};
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const token = authenticated ? this.tokens?.accessToken() : null;
      if (token) headers.Authorization = `Bearer ${token}`;
      return this.fetcher(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
      });
    };
    let response: Response;
    try {
      response = await send();
      if (response.status === 401 && authenticated && this.tokens && (await this.tokens.refresh())) {
        response = await send();
      }
    } catch {
      throw new ApiError(0, "network", "The server cannot be reached; check your connection and try again.");
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    const json: unknown = text ? safeParse(text) : null;
    if (!response.ok) {
      const error = json as Partial<ErrorBody> | null;
      throw new ApiError(
        response.status,
        error?.code ?? "http_" + response.status,
        error?.message ?? `The server answered ${response.status}; try again shortly.`,
      );
    }
    return json as T;
  }

  register = (credentials: Credentials) => this.request<User>("POST", "/v1/auth/register", credentials, false);
  login = (credentials: Credentials) => this.request<Tokens>("POST", "/v1/auth/login", credentials, false);
  refresh = (refreshToken: string) =>
    this.request<Tokens>("POST", "/v1/auth/refresh", { refresh_token: refreshToken }, false);
  logout = () => this.request<void>("POST", "/v1/auth/logout");
  createSession = () => this.request<Session>("POST", "/v1/sessions");
  listSessions = () => this.request<SessionList>("GET", "/v1/sessions");
  keepAlive = (session: string) =>
    this.request<Session>("POST", `/v1/sessions/${encodeURIComponent(session)}/keep-alive`);
  endSession = (session: string) => this.request<Session>("DELETE", `/v1/sessions/${encodeURIComponent(session)}`);
  startSimulator = (request: StartSimulator) => this.request<Simulator>("POST", "/v1/simulators", request);
  listSimulators = () => this.request<SimulatorList>("GET", "/v1/simulators");
  simulatorStatus = (sim: string) => this.request<SimulatorStatus>("GET", `/v1/simulators/${encodeURIComponent(sim)}`);
  stopSimulator = (sim: string) => this.request<Simulator>("DELETE", `/v1/simulators/${encodeURIComponent(sim)}`);
  ticket = (sim: string) => this.request<Ticket>("POST", "/v1/tickets", { sim });
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
