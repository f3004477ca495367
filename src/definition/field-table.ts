/** The shape of a field table (fields.ts): a step file's kebab-case keys and the camelCase fields they become. */

/** kebab-case key -> camelCase field; `null`: accepted in the file, not carried into the Definition. */
export type FieldTable<T> = Readonly<Record<string, Extract<keyof T, string> | null>>;

/** Fails to compile when a field of T has no key in the table. */
type CoversAll<T, M extends FieldTable<T>> =
  Exclude<Extract<keyof T, string>, M[keyof M]> extends never
    ? unknown
    : { missingFields: Exclude<Extract<keyof T, string>, M[keyof M]> };

/** `fieldTable<T>()({ ... })`: a table that must cover every field of T. */
export function fieldTable<T>() {
  return <const M extends FieldTable<T>>(table: M & CoversAll<T, M>): M => table;
}
