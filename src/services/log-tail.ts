/** The last lines of a stream of text chunks, kept for an error message. */
export class LogTail {
  readonly #max: number;
  readonly #lines: string[] = [];
  #partial = '';

  constructor(max: number) {
    this.#max = max;
  }

  push(text: string): void {
    const parts = (this.#partial + text).split('\n');
    this.#partial = parts.pop() ?? '';
    for (const line of parts) this.#add(line);
  }

  /** The last lines, the unfinished one included, without control characters but tabs. */
  lines(): string[] {
    const all = this.#partial === '' ? [...this.#lines] : [...this.#lines, this.#partial].slice(-this.#max);
    // eslint-disable-next-line no-control-regex
    return all.map((line) => line.replace(/\r$/, '').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ''));
  }

  #add(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#max) this.#lines.shift();
  }
}
