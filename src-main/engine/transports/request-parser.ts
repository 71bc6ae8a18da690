/**
 * Parses control requests in a worker thread, off the engine's main thread, which serves FUSE:
 * JSON.parse of a request under the 1 MiB cap can take ~60 ms (an object of 60,000 keys,
 * measured on the build machine), and a client sending such requests back to back held up every
 * call on the mount (40 small files took 7.2 s instead of well under 1 s). The worker starts with
 * the first request.
 */
import { Worker } from 'node:worker_threads';
import type { ParsedRequest } from './parse-request.js';

interface Waiter {
  resolve: (parsed: ParsedRequest) => void;
  reject: (error: Error) => void;
}

export class RequestParser {
  private worker: Worker | null = null;
  private nextSeq = 1;
  private readonly waiting = new Map<number, Waiter>();

  parse(line: string): Promise<ParsedRequest> {
    const worker = (this.worker ??= this.startWorker());
    const seq = this.nextSeq++;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      worker.postMessage({ seq, line });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }

  private startWorker(): Worker {
    const worker = new Worker(new URL('./request-parser-worker.js', import.meta.url));
    worker.on('message', ({ seq, parsed }: { seq: number; parsed: ParsedRequest }) => {
      this.waiting.get(seq)?.resolve(parsed);
      this.waiting.delete(seq);
    });
    // Requests waiting fail, and the next one starts a new worker.
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = null;
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the request parser stopped (exit code ${code})`)));
    // The sockets keep the engine running, not this thread.
    worker.unref();
    return worker;
  }
}
