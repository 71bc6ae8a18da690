/** Runs the engine calls a button starts: `busy` while they run, and a failure shown, not thrown. */
import { useCallback, useState } from 'react';

export function useRun(report: (error: unknown) => void): {
  busy: boolean;
  run: (work: () => Promise<unknown>) => Promise<void>;
} {
  const [busy, setBusy] = useState(false);
  const run = useCallback(
    async (work: () => Promise<unknown>) => {
      setBusy(true);
      try {
        await work();
      } catch (error) {
        report(error);
      } finally {
        setBusy(false);
      }
    },
    [report],
  );
  return { busy, run };
}
