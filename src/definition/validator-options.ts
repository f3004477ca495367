/** The ajv options the step file's validator is generated with (scripts/validator-source.ts). */
export const VALIDATOR_OPTIONS = { allErrors: true, verbose: true, strict: true } as const;
