import { useRef, useSyncExternalStore } from "react";

/** Schedules one callback before the next paint; injected so tests and Node can run without a browser. */
export type FrameScheduler = (callback: () => void) => void;

/**
 * A scheduler that runs everything asked of it before one frame in one callback of `requestFrame`, so every store
 * publishes in the same task and React renders what they changed in one pass (not one per store).
 */
export function batchedFrames(requestFrame: (run: () => void) => void): FrameScheduler {
  let queued: (() => void)[] = [];
  return (callback) => {
    queued.push(callback);
    if (queued.length > 1) return;
    requestFrame(() => {
      const due = queued;
      queued = [];
      for (const run of due) run();
    });
  };
}

export const animationFrame: FrameScheduler = batchedFrames((run) => {
  if (typeof requestAnimationFrame === "function") requestAnimationFrame(run);
  else setTimeout(run, 16);
});

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

/**
 * Picks a part of a store's values and keeps handing back the same part while `equal` says it did not change, so
 * a component reading only that part does not re-render when the rest of the value does.
 */
export function selection<T, S>(select: (value: T) => S, equal: (a: S, b: S) => boolean): (value: T) => S {
  let last: { value: T; selected: S } | null = null;
  return (value) => {
    if (last?.value === value) return last.selected;
    const selected = select(value);
    last = { value, selected: last && equal(last.selected, selected) ? last.selected : selected };
    return last.selected;
  };
}

/** Shallow equality of two objects' own fields. */
export function sameFields<S extends object>(a: S, b: S): boolean {
  const keys = Object.keys(a) as (keyof S)[];
  return keys.length === Object.keys(b).length && keys.every((key) => Object.is(a[key], b[key]));
}

/** `useFrameStore` for a part of the value: re-renders only when `select`'s answer changes (by `sameFields`). */
export function useFrameStoreSelector<T, S extends object>(store: FrameStore<T>, select: (value: T) => S): S {
  const picker = useRef<((value: T) => S) | null>(null);
  picker.current ??= selection(select, sameFields);
  const read = () => picker.current!(store.get());
  return useSyncExternalStore(store.subscribe, read, read);
}
