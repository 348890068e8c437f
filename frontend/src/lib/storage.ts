/** The part of `localStorage` the app uses; injected so tests can use a map. */
export type KeyValueStorage = Pick<Storage, "getItem" | "setItem" | "removeItem">;

export function memoryStorage(): KeyValueStorage {
  const items = new Map<string, string>();
  return {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
  };
}

export function browserStorage(): KeyValueStorage {
  try {
    return window.localStorage;
  } catch {
    // Storage can be disabled (private mode, policies); the app then forgets on reload.
    return memoryStorage();
  }
}

export function readJson<T>(storage: KeyValueStorage, key: string): T | null {
  const text = storage.getItem(key);
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    storage.removeItem(key);
    return null;
  }
}

export function writeJson(storage: KeyValueStorage, key: string, value: unknown): void {
  try {
    storage.setItem(key, JSON.stringify(value));
  } catch {
    // Quota exceeded: what was stored before stays; the next write tries again.
  }
}

/** Every key the app keeps, in one place. */
export const storageKeys = {
  auth: "tradesim.auth",
  session: "tradesim.session",
  simulator: "tradesim.simulator",
  simConfig: (sim: string) => `tradesim.config.${sim}`,
  streamState: (sim: string) => `tradesim.stream.${sim}`,
  notice: "tradesim.notice",
} as const;
