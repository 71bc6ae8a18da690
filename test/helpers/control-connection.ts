/**
 * A raw connection to an engine's control socket, as any client (a misbehaving one included) has:
 * bytes in, answers out line by line. Tests of the API itself use ControlClient instead.
 */
import { createConnection, type Socket } from 'node:net';
import { socketPath } from '../../src-main/engine/data-dir.js';

export interface Answer {
  id: number;
  result?: unknown;
  error?: { code: string; message: string };
}

export interface RawConnection {
  socket: Socket;
  /** What the engine answered so far. */
  answers: Answer[];
  /** Resolves once the connection is closed (by either side). */
  closed: Promise<void>;
}

export async function connectRaw(dataDir: string): Promise<RawConnection> {
  const socket = createConnection(socketPath(dataDir));
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const answers: Answer[] = [];
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    for (let newline; (newline = text.indexOf('\n')) >= 0; text = text.slice(newline + 1)) {
      answers.push(JSON.parse(text.slice(0, newline)) as Answer);
    }
  });
  // The engine may close while this side still writes (EPIPE, ECONNRESET): tests look at `closed`.
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, answers, closed };
}

/** Sends a request longer than the engine takes (it refuses it, and logs that); resolves when closed. */
export async function sendOversizeRequest(dataDir: string): Promise<Answer[]> {
  const { socket, answers, closed } = await connectRaw(dataDir);
  socket.write(Buffer.alloc(2 * 1024 * 1024, 'x'));
  await closed;
  return answers;
}
