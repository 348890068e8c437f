import { useEffect, useRef, useState } from "react";

/**
 * A value that follows `value` at most once every `ms` (and always catches up with its latest): for what people
 * and assistive technology read, which need not change at the stream's frame rate.
 */
export function useThrottled<T>(value: T, ms: number): T {
  const [shown, setShown] = useState(value);
  const shownAt = useRef(0);
  useEffect(() => {
    if (Object.is(shown, value)) return;
    const timer = setTimeout(
      () => {
        shownAt.current = Date.now();
        setShown(value);
      },
      Math.max(0, shownAt.current + ms - Date.now()),
    );
    return () => clearTimeout(timer);
  }, [value, shown, ms]);
  return shown;
}
