/**
 * The request parser's worker thread: parses and checks control request lines (see
 * request-parser.ts), one message per line.
 */
import { parentPort } from 'node:worker_threads';
import { installEngineLog } from '../engine-log.js';
import { parseRequest } from './parse-request.js';

installEngineLog();

parentPort!.on('message', ({ seq, line }: { seq: number; line: string }) => {
  parentPort!.postMessage({ seq, parsed: parseRequest(line) });
});
