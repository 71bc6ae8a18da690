/**
 * Splits a byte stream into lines (newline-delimited JSON on the control socket, both ways). Only
 * the unfinished line is kept, as the pieces it came in, and each byte is searched once, so a line
 * costs time in proportion to its length: a string grown piece by piece and searched from its start
 * at every piece took the engine's main thread (which serves FUSE) ~48 s for one 64 MiB line.
 */

export class LineTooLongError extends Error {}

export class LineReader {
  private pieces: Buffer[] = [];
  private pieceBytes = 0;

  /** `maxLineBytes`: a longer line makes `push` throw LineTooLongError as soon as it passes it. */
  constructor(private readonly maxLineBytes = Infinity) {}

  /** The lines (without their newline) that `chunk` completes. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let newline; (newline = chunk.indexOf(0x0a, start)) >= 0; start = newline + 1) {
      this.keep(chunk.subarray(start, newline));
      lines.push(Buffer.concat(this.pieces, this.pieceBytes).toString('utf8'));
      this.pieces = [];
      this.pieceBytes = 0;
    }
    this.keep(chunk.subarray(start));
    return lines;
  }

  private keep(piece: Buffer): void {
    if (piece.length === 0) return;
    this.pieceBytes += piece.length;
    if (this.pieceBytes > this.maxLineBytes) {
      this.pieces = [];
      throw new LineTooLongError(`a line longer than ${this.maxLineBytes} bytes`);
    }
    this.pieces.push(piece);
  }
}
