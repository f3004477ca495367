/** Deterministic randomness for property tests: a failure can be replayed from its seed. */

/** A small deterministic PRNG (mulberry32): numbers in [0, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A text over a tiny alphabet (`a`, `b`, `c`, newline) made of `pieces` pieces, about 40% of them one of
 * one to three random secrets of `minSecret` to 7 characters: overlaps and near misses are common.
 */
export function textWithSecrets(
  random: () => number,
  options: { readonly minSecret: number; readonly pieces: number },
): { secrets: string[]; text: string } {
  const alphabet = 'ab\nc';
  const word = (min: number, max: number) =>
    Array.from({ length: min + Math.floor(random() * (max - min + 1)) }, () =>
      alphabet.charAt(Math.floor(random() * alphabet.length)),
    ).join('');
  const secrets = Array.from({ length: 1 + Math.floor(random() * 3) }, () => word(options.minSecret, 7));
  const pieces: string[] = [];
  for (let i = 0; i < options.pieces; i++) {
    pieces.push(random() < 0.4 ? secrets[Math.floor(random() * secrets.length)]! : word(0, 4));
  }
  return { secrets, text: pieces.join('') };
}
