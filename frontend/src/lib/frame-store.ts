import { useSyncExternalStore } from "react";

/** Schedules one callback before the next paint; injected so tests and Node can run without a browser. */
export type FrameScheduler = (callback: () => void) => void;

export const animationFrame: FrameScheduler = (callback) => {
  if (typeof requestAnimationFrame === "function") requestAnimationFrame(() => callback());
  else setTimeout(callback, 16);
};

/**
 * State that lives outside React. Writers call `set` as often as they like; subscribers hear about it at most once
 * per animation frame, and always see the latest value.
 */
export class FrameStore<T> {
  private published: T;
  private latest: T;
  private scheduled = false;
  private pendingBuild: (() => T) | null = null;
  private readonly listeners = new Set<() => void>();

  constructor(
    initial: T,
    private readonly schedule: FrameScheduler = animationFrame,
  ) {
    this.published = initial;
    this.latest = initial;
  }

  /** The value components render: the one published at the last frame. */
  readonly get = (): T => this.published;

  /** The newest value, published or not. */
  current(): T {
    this.resolve();
    return this.latest;
  }

  set(next: T): void {
    this.pendingBuild = null;
    this.latest = next;
    this.requestFrame();
  }

  /** Like `set`, but the value is built only when the frame publishes: many changes, one build. */
  invalidate(build: () => T): void {
    this.pendingBuild = build;
    this.requestFrame();
  }

  private requestFrame(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => this.publish());
  }

  private resolve(): void {
    if (this.pendingBuild === null) return;
    this.latest = this.pendingBuild();
    this.pendingBuild = null;
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  private publish(): void {
    this.scheduled = false;
    this.resolve();
    if (this.published === this.latest) return;
    this.published = this.latest;
    for (const listener of this.listeners) listener();
  }
}

export function useFrameStore<T>(store: FrameStore<T>): T {
  return useSyncExternalStore(store.subscribe, store.get, store.get);
}
