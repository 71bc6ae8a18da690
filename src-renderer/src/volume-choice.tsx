/** Which volume a view shows: the one chosen, else the first; and the select to choose it. */
import { useState } from 'react';
import type { EngineState } from './use-engine.js';

export function useVolumeChoice(engine: EngineState): {
  names: string[];
  shown: string | null;
  choose: (name: string) => void;
} {
  const names = engine.volumes?.map((v) => v.name) ?? [];
  const [chosen, choose] = useState<string | null>(null);
  const shown = chosen !== null && names.includes(chosen) ? chosen : (names[0] ?? null);
  return { names, shown, choose };
}

export function VolumeSelect({
  names,
  shown,
  onChange,
}: {
  names: string[];
  shown: string;
  onChange: (name: string) => void;
}) {
  return (
    <label>
      Volume{' '}
      <select value={shown} onChange={(e) => onChange(e.target.value)}>
        {names.map((n) => (
          <option key={n}>{n}</option>
        ))}
      </select>
    </label>
  );
}
