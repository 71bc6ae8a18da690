/** Where a browser is in a tree, as buttons: the root, then each folder down to the one shown. */
export function PathCrumbs({ path, open }: { path: string; open: (path: string) => void }) {
  const parts = path.split('/').filter(Boolean);
  return (
    <nav aria-label="Path" className="crumbs">
      <button onClick={() => open('/')}>/</button>
      {parts.map((part, i) => (
        <button key={i} onClick={() => open('/' + parts.slice(0, i + 1).join('/'))}>
          {part}/
        </button>
      ))}
    </nav>
  );
}

/** The folder above `path` ("/" for the root's children and the root). */
export function parentOf(path: string): string {
  const parts = path.split('/').filter(Boolean);
  return '/' + parts.slice(0, -1).join('/');
}
