/**
 * Splits a byte stream into physical lines without ever holding more than one line (plus one
 * chunk) in memory. A line longer than `maxLineBytes` is not kept: it is reported by number so the
 * import can reject it and go on with the next line.
 */
export type SourceLine =
  | { number: number; text: string; bytesRead: number }
  | { number: number; problem: string; bytesRead: number };

const NEWLINE = 0x0a;

export async function* readLines(source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, maxLineBytes: number): AsyncGenerator<SourceLine> {
  // fatal: a line that is not UTF-8 is rejected rather than imported with replacement characters.
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let parts: Buffer[] = [];
  let contentBytes = 0;
  let dropped = false;
  let number = 0;
  let bytesRead = 0;

  const append = (piece: Buffer) => {
    contentBytes += piece.length;
    if (dropped) return;
    if (contentBytes > maxLineBytes) {
      dropped = true;
      parts = [];
    } else if (piece.length > 0) {
      parts.push(piece);
    }
  };

  const finish = (terminatorBytes: number): SourceLine => {
    number++;
    bytesRead += contentBytes + terminatorBytes;
    const wasDropped = dropped;
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    parts = [];
    contentBytes = 0;
    dropped = false;
    if (wasDropped) return { number, problem: `line is longer than ${maxLineBytes} bytes`, bytesRead };
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      return { number, problem: 'line is not valid UTF-8', bytesRead };
    }
    if (number === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.endsWith('\r')) text = text.slice(0, -1);
    return { number, text, bytesRead };
  };

  for await (const chunk of source) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (;;) {
      const newline = buffer.indexOf(NEWLINE, start);
      if (newline === -1) break;
      append(buffer.subarray(start, newline));
      yield finish(1);
      start = newline + 1;
    }
    // The tail stays referenced until its line ends: at most one chunk more than the line itself.
    if (start < buffer.length) append(buffer.subarray(start));
  }
  if (contentBytes > 0) yield finish(0);
}
