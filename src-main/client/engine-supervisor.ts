/**
 * Keeps the engine of a data directory within reach of the desktop app: connects to the engine
 * that runs, or starts one in the background (under Electron, on Electron's own Node.js runtime);
 * when it dies, starts it again and mounts again what was mounted; passes its events on, whoever
 * started it. The engine outlives the app: quitting stops it on purpose (`stop`), a crash of the
 * app leaves the mounts to it.
 *
 * Node code, no Electron: the app's main process uses it, and the tests run it under Node.
 */
import type { Api, EngineEvent, MethodName, StopResult, VolumeInfo } from '../common/api.js';
import { BazilError } from '../common/errors.js';
import { EventHub } from '../common/event-hub.js';
import type { ControlClient } from './control-client.js';
import { connectToEngine } from './engine-connection.js';

export type EngineLinkState = 'starting' | 'running' | 'down';

/** Waits before each attempt to start a dead engine again; past the last, it stays down. */
const RESTART_DELAYS_MS = [200, 1000, 3000, 10_000];

export interface SupervisorOptions {
  /** Volumes to mount at start (what was mounted when the app last ran): name → mountpoint. */
  mounts?: ReadonlyMap<string, string>;
  /** Hears which volumes are mounted where, after every change (the app keeps it for its next start). */
  onMountsChanged?: (mounts: ReadonlyMap<string, string>) => void;
  restartDelaysMs?: number[];
}

export class EngineSupervisor {
  readonly events = new EventHub<EngineEvent>();
  readonly states = new EventHub<EngineLinkState>();
  private client: ControlClient | null = null;
  private linkState: EngineLinkState = 'starting';
  private mounts: Map<string, string>;
  private stopping = false;

  constructor(
    readonly dataDir: string,
    private readonly options: SupervisorOptions = {},
  ) {
    this.mounts = new Map(options.mounts ?? []);
  }

  get state(): EngineLinkState {
    return this.linkState;
  }

  /** Reaches the engine (starting it if none runs) and mounts again what is remembered. */
  async start(): Promise<void> {
    await this.connect();
  }

  /** A call to the engine; ENOENGINE while it is down or starting again. */
  call<M extends MethodName>(method: M, args: Parameters<Api[M]>[0]): Promise<Awaited<ReturnType<Api[M]>>> {
    if (!this.client) {
      return Promise.reject(new BazilError('ENOENGINE', 'Bazil’s engine is not running; it is being started again'));
    }
    return this.client.call(method, args);
  }

  /**
   * Stores what is dirty, unmounts every volume and stops the engine (the app quits). Refused
   * (a volume in use, data that cannot be stored): the engine runs on, and the hold on it too, so
   * the app can ask the person and stop again (`force`) or go on.
   */
  async stop({ force = false } = {}): Promise<StopResult | null> {
    this.stopping = true;
    const client = this.client;
    if (!client) return null;
    let result: StopResult;
    try {
      result = await client.call('stop', force ? { force } : {});
    } catch (error) {
      const refused = error instanceof BazilError && error.code !== 'ENOENGINE' && this.client === client;
      if (refused) {
        this.stopping = false;
        throw error;
      }
      client.close();
      this.client = null;
      throw error;
    }
    client.close();
    this.client = null;
    return result;
  }

  /** Lets go of the engine, which keeps running with its mounts. */
  close(): void {
    this.stopping = true;
    this.client?.close();
    this.client = null;
  }

  private setState(state: EngineLinkState): void {
    if (state === this.linkState) return;
    this.linkState = state;
    this.states.publish(state);
  }

  private async connect(): Promise<void> {
    this.setState('starting');
    const client = await connectToEngine(this.dataDir, { start: true });
    if (this.stopping) {
      client.close();
      return;
    }
    this.client = client;
    client.onClose = () => this.lost(client);
    await client.onEvent((event) => {
      if (event.type === 'volumes') this.noteMounts(event.volumes);
      this.events.publish(event);
    });
    await this.mountRemembered(await client.call('volumeList', {}));
    this.noteMounts(await client.call('volumeList', {}));
    this.setState('running');
  }

  /** Mounts each remembered volume that is not mounted now; a failure is an error event. */
  private async mountRemembered(volumes: VolumeInfo[]): Promise<void> {
    for (const [name, mountpoint] of this.mounts) {
      const volume = volumes.find((v) => v.name === name);
      if (!volume || volume.mountpoint !== null) continue;
      try {
        await this.client!.call('mount', { name, mountpoint });
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        this.events.publish({ type: 'error', message: `could not mount volume "${name}" again: ${why}` });
      }
    }
  }

  private noteMounts(volumes: VolumeInfo[]): void {
    const mounts = new Map(volumes.filter((v) => v.mountpoint !== null).map((v) => [v.name, v.mountpoint!]));
    const same = mounts.size === this.mounts.size && [...mounts].every(([n, m]) => this.mounts.get(n) === m);
    this.mounts = mounts;
    if (!same) this.options.onMountsChanged?.(mounts);
  }

  /** The connection ended without a stop: the engine died. It is started again, and what was mounted mounted again. */
  private lost(client: ControlClient): void {
    if (this.stopping || client !== this.client) return;
    this.client = null;
    this.setState('down');
    void this.restart();
  }

  private async restart(): Promise<void> {
    for (const delayMs of this.options.restartDelaysMs ?? RESTART_DELAYS_MS) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (this.stopping) return;
      try {
        await this.connect();
        return;
      } catch (error) {
        this.setState('down');
        const why = error instanceof Error ? error.message : String(error);
        this.events.publish({
          type: 'error',
          message: `Bazil’s engine stopped and could not be started again: ${why}`,
        });
      }
    }
  }
}
