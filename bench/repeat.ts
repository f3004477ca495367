/**
 * Interleaved repetitions: every variant of a case (kiln, and each baseline) runs once per repetition,
 * in an order that rotates from one repetition to the next, after a warm-up round whose figures are
 * dropped. Drift of the machine (caches, the engine's state, other load) then hits every variant alike.
 */

/** One way of doing the case's work. It returns its measurements by name (ms, MB/s...). */
export interface Variant {
  readonly name: string;
  run(round: Round): Promise<Record<string, number>>;
}

export interface Round {
  /** 0-based repetition; -1 for the warm-up. */
  readonly repetition: number;
  readonly warmUp: boolean;
}

export interface RepeatOptions {
  /** Measured repetitions. */
  readonly repetitions: number;
  /** Run one unmeasured round first. Default true. */
  readonly warmUp?: boolean;
  /** Told before each round, e.g. for a progress line. */
  readonly onRound?: (round: Round) => void;
  /**
   * Told when a variant failed and is run again (once). The engine is shared with whatever else runs on
   * the machine, so one failure is retried; the case reports every retry. Two in a row end the case.
   */
  readonly onRetry?: (variant: string, round: Round, error: Error) => void;
}

/** Runs the variants interleaved; returns every measurement's samples, in repetition order. */
export async function interleave(
  variants: readonly Variant[],
  options: RepeatOptions,
): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>();
  const rounds: Round[] = [
    ...(options.warmUp === false ? [] : [{ repetition: -1, warmUp: true }]),
    ...Array.from({ length: options.repetitions }, (_, repetition) => ({ repetition, warmUp: false })),
  ];
  for (const round of rounds) {
    options.onRound?.(round);
    const shift = Math.max(round.repetition, 0) % Math.max(variants.length, 1);
    const order = [...variants.slice(shift), ...variants.slice(0, shift)];
    for (const variant of order) {
      let measured: Record<string, number>;
      try {
        measured = await variant.run(round);
      } catch (error) {
        options.onRetry?.(variant.name, round, error instanceof Error ? error : new Error(String(error)));
        measured = await variant.run(round);
      }
      if (round.warmUp) continue;
      for (const [key, value] of Object.entries(measured)) {
        const list = samples.get(key) ?? [];
        list.push(value);
        samples.set(key, list);
      }
    }
  }
  return samples;
}

/** The samples of one measurement; throws when a variant never reported it (a bug in the case). */
export function samplesOf(samples: ReadonlyMap<string, number[]>, key: string): number[] {
  const found = samples.get(key);
  if (!found) throw new Error(`no measurement named ${key}`);
  return found;
}

export interface CaseRounds {
  readonly samples: Map<string, number[]>;
  /** One line per retried variant run, for the case's notes. */
  readonly retries: string[];
}

/** interleave() with the case's progress lines and its retries collected. */
export async function runRounds(
  context: { readonly repetitions: number; log(message: string): void },
  caseId: string,
  variants: readonly Variant[],
): Promise<CaseRounds> {
  const retries: string[] = [];
  const describe = (round: Round) =>
    round.warmUp ? 'warm-up' : `repetition ${round.repetition + 1}/${context.repetitions}`;
  const samples = await interleave(variants, {
    repetitions: context.repetitions,
    onRound: (round) => context.log(`${caseId}: ${describe(round)}`),
    onRetry: (variant, round, error) => {
      const line = `${variant} failed once in the ${describe(round)} and was run again: ${error.message}`;
      context.log(`${caseId}: ${line}`);
      retries.push(line);
    },
  });
  return { samples, retries };
}
