/**
 * How many problems a person is shown at once: the first hundred, then how many more there are. A
 * file with a hundred thousand faults gets a readable answer, quickly. (A DefinitionError keeps them
 * all.)
 */

/** The most problems the CLI shows at once. */
export const MAX_REPORTED_PROBLEMS = 100;
