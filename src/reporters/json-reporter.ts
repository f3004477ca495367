/**
 * `--json`: every event as one JSON object on its own line, exactly as emitted, and nothing else.
 */
import type { KilnEvent } from '../events.js';
import type { OutputPressure } from '../output-pressure.js';
import { StreamOutput } from './output.js';
import type { OutputStream, Reporter } from './types.js';

export class JsonReporter implements Reporter {
  readonly #out: StreamOutput;

  /** `pressure`: held while the stream is behind (see StreamOutput). */
  constructor(stream: OutputStream, pressure?: OutputPressure) {
    this.#out = new StreamOutput(stream, pressure);
  }

  onEvent(event: KilnEvent): void {
    this.#out.write(JSON.stringify(event) + '\n');
  }

  close(): Promise<void> {
    return this.#out.flush();
  }
}
