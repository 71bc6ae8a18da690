/**
 * The window's only door to the app (Electron's preload script, in the window's sandbox): the
 * engine API's two functions, `call` and `onEvent`, as `window.bazil`, over IPC. Nothing of
 * Node or Electron reaches the page. CommonJS: a sandboxed preload cannot be an ES module.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';

interface Answer {
  result?: unknown;
  error?: { code: string; message: string };
}

contextBridge.exposeInMainWorld('bazil', {
  async call(method: string, args: unknown): Promise<unknown> {
    const answer = (await ipcRenderer.invoke('bazil:call', method, args)) as Answer;
    if (answer.error) throw new Error(answer.error.message);
    return answer.result;
  },
  onEvent(listener: (event: unknown) => void): () => void {
    const hear = (_: IpcRendererEvent, event: unknown) => listener(event);
    ipcRenderer.on('bazil:event', hear);
    return () => ipcRenderer.removeListener('bazil:event', hear);
  },
});
