/**
 * A look at a file as a snapshot holds it: an image as itself, text as text (its first 64 KiB),
 * anything else named as binary. Read through the API (snapshotRead), never from the mount.
 */
import { useEffect, useState } from 'react';
import type { SnapshotEntry } from '../../src-main/common/api.js';
import { formatBytes } from '../../src-main/common/units.js';
import type { EngineBridge } from './engine-bridge.js';

const PREVIEW_BYTES = 64 * 1024;
const IMAGE_BYTES = 1024 * 1024;
const IMAGES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  svg: 'image/svg+xml',
};

type Preview =
  { kind: 'image'; url: string } | { kind: 'text'; text: string; cut: boolean } | { kind: 'none'; why: string };

export function FilePreview({
  bridge,
  volume,
  snapshot,
  entry,
  report,
}: {
  bridge: EngineBridge;
  volume: string;
  snapshot: string;
  entry: SnapshotEntry;
  report: (error: unknown) => void;
}) {
  const [preview, setPreview] = useState<Preview | null>(null);
  useEffect(() => {
    let current = true;
    const image = IMAGES[entry.name.split('.').pop()!.toLowerCase()];
    if (image && entry.sizeBytes > IMAGE_BYTES) {
      setPreview({ kind: 'none', why: `an image of ${formatBytes(entry.sizeBytes)}: too large to preview` });
      return;
    }
    const length = Math.min(entry.sizeBytes, image ? IMAGE_BYTES : PREVIEW_BYTES);
    bridge.call('snapshotRead', { volume, snapshot, path: entry.path, offset: 0, length }).then((read) => {
      if (!current) return;
      if (image) return setPreview({ kind: 'image', url: `data:${image};base64,${read.data}` });
      const bytes = Uint8Array.from(atob(read.data), (c) => c.charCodeAt(0));
      if (bytes.includes(0)) return setPreview({ kind: 'none', why: 'binary content' });
      const text = new TextDecoder('utf-8').decode(bytes);
      setPreview({ kind: 'text', text, cut: entry.sizeBytes > bytes.length });
    }, report);
    return () => {
      current = false;
    };
  }, [bridge, volume, snapshot, entry, report]);
  return (
    <section className="preview" aria-label={`Preview of ${entry.path}`}>
      <h4>
        {entry.path} in {snapshot}
      </h4>
      {preview === null ? (
        <p>Loading…</p>
      ) : preview.kind === 'image' ? (
        <img src={preview.url} alt={entry.name} />
      ) : preview.kind === 'text' ? (
        <>
          <pre data-testid="preview-text">{preview.text}</pre>
          {preview.cut && <p className="muted">The first {formatBytes(PREVIEW_BYTES)} are shown.</p>}
        </>
      ) : (
        <p className="muted">No preview: {preview.why}.</p>
      )}
    </section>
  );
}
