import { ApiError, type AccessTokens, type ApiClient } from "@/lib/api-client";
import { Timer, type Clock } from "@/lib/clock";
import { FrameStore } from "@/lib/frame-store";
import { readJson, storageKeys, writeJson, type KeyValueStorage } from "@/lib/storage";
import type { Tokens } from "@/protocol";

export interface SignedInUser {
  userId: string;
  username: string;
}

export interface AuthState {
  user: SignedInUser | null;
  /** Why the user was signed out, shown on the login page. */
  notice: string | null;
}

interface StoredAuth {
  username: string;
  tokens: Tokens;
  /** Clock ms when the access token expires. */
  expiresAt: number;
}

/** Refresh this long before the access token expires, so requests never carry an expired one. */
const REFRESH_AHEAD_MS = 60_000;

/**
 * The sign-in: tokens in storage, refreshed before they expire (and once more on a 401), and the reason the user
 * was signed out when that happens.
 */
export class AuthService implements AccessTokens {
  readonly state: FrameStore<AuthState>;
  private stored: StoredAuth | null;
  private refreshing: Promise<boolean> | null = null;
  private readonly refreshTimer: Timer;
  private api: ApiClient | null = null;

  constructor(
    private readonly storage: KeyValueStorage,
    private readonly clock: Clock,
  ) {
    this.stored = readJson<StoredAuth>(storage, storageKeys.auth);
    this.refreshTimer = new Timer(clock);
    const notice = storage.getItem(storageKeys.notice);
    this.state = new FrameStore<AuthState>({ user: this.user(), notice });
  }

  /** The client is built with this service as its token source, so it is attached afterwards. */
  attach(api: ApiClient): void {
    this.api = api;
    if (this.stored) this.scheduleRefresh();
  }

  accessToken(): string | null {
    return this.stored?.tokens.access_token ?? null;
  }

  async login(username: string, password: string): Promise<void> {
    const tokens = await this.client().login({ username, password });
    this.signedIn(username.trim().toLowerCase(), tokens);
  }

  async register(username: string, password: string): Promise<void> {
    await this.client().register({ username, password });
    await this.login(username, password);
  }

  async logout(): Promise<void> {
    try {
      await this.client().logout();
    } finally {
      this.signOut(null);
    }
  }

  /** Ends the sign-in locally, with a message for the login page. */
  signOut(notice: string | null): void {
    this.refreshTimer.cancel();
    this.stored = null;
    this.storage.removeItem(storageKeys.auth);
    if (notice) this.storage.setItem(storageKeys.notice, notice);
    else this.storage.removeItem(storageKeys.notice);
    this.state.set({ user: null, notice });
  }

  clearNotice(): void {
    this.storage.removeItem(storageKeys.notice);
    this.state.set({ ...this.state.current(), notice: null });
  }

  /** Exchanges the refresh token (single use) for a new pair; concurrent callers share one exchange. */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.exchange().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async exchange(): Promise<boolean> {
    const stored = this.stored;
    if (!stored) return false;
    try {
      const tokens = await this.client().refresh(stored.tokens.refresh_token);
      this.signedIn(stored.username, tokens);
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.signOut(`${error.message}`);
        return false;
      }
      // The network or the server is down: keep the tokens and try again shortly.
      this.refreshTimer.arm(5_000, () => void this.refresh());
      return false;
    }
  }

  private signedIn(username: string, tokens: Tokens): void {
    this.stored = { username, tokens, expiresAt: this.clock.now() + tokens.expires_in * 1000 };
    writeJson(this.storage, storageKeys.auth, this.stored);
    this.storage.removeItem(storageKeys.notice);
    this.scheduleRefresh();
    this.state.set({ user: this.user(), notice: null });
  }

  private scheduleRefresh(): void {
    if (!this.stored) return;
    const wait = Math.max(0, this.stored.expiresAt - REFRESH_AHEAD_MS - this.clock.now());
    this.refreshTimer.arm(wait, () => void this.refresh());
  }

  private user(): SignedInUser | null {
    return this.stored ? { userId: this.stored.tokens.user_id, username: this.stored.username } : null;
  }

  private client(): ApiClient {
    if (!this.api) throw new Error("AuthService.attach was not called");
    return this.api;
  }
}
