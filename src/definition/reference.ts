/**
 * The step file's reference (`docs/step-file.md`), rendered from the schema's titles, descriptions and
 * defaults, so that the doc and the schema cannot drift apart. `npm run docs:reference` writes it.
 */
import {
  describeType,
  resolveRef,
  refName,
  showExample,
  stepFileSchema,
  type RootSchema,
  type SchemaNode,
} from './schema.js';
import { DEFINITION_MOUNT_KINDS } from './mount-kinds/index.js';

/** The objects of the schema that get a section, in order: `''` is the top level, others definitions. */
const SECTIONS: readonly { readonly name: string; readonly heading: string }[] = [
  { name: '', heading: 'Top level' },
  { name: 'defaults', heading: 'defaults' },
  { name: 'job', heading: 'job' },
  { name: 'step', heading: 'step' },
  { name: 'retry', heading: 'retry' },
  { name: 'reuse-options', heading: 'reuse options' },
  { name: 'output', heading: 'output' },
  { name: 'service', heading: 'service' },
  { name: 'service-health', heading: 'service health' },
  { name: 'secret-source', heading: 'secret source' },
  { name: 'mount', heading: 'mount' },
  ...DEFINITION_MOUNT_KINDS.map((kind) => ({ name: `${kind.type}-mount`, heading: `${kind.type} mount` })),
];

/** The definitions that have a section, for links from type cells. */
export const REFERENCE_SECTIONS: readonly string[] = SECTIONS.map((s) => s.name);

const EXAMPLE = `# yaml-language-server: $schema=./node_modules/kiln/schema/kiln.schema.json
version: 1
defaults:
  image: kiln-fixture/busybox:latest
jobs:
  build:
    mounts:
      - { type: bind, source: ., target: /src, readonly: true, exclude: [.git/, dist/] }
      - { type: cache, id: build-cache, target: /cache }
    outputs: [{ path: /out, export: ./dist }]
    steps:
      - { name: compile, run: make -C /src -j2 OUT=/out }
  publish:
    mounts:
      - { type: bind, from: build, source: /out, target: /dist }
    steps:
      - run: ./publish.sh /dist
        mounts:
          - { type: secret, id: npm-token }
secrets:
  npm-token: { env: NPM_TOKEN }`;

/** The whole reference page, as Markdown. */
export function renderReference(schema: RootSchema = stepFileSchema()): string {
  const out: string[] = [
    '<!-- Generated from schema/kiln.schema.json by `npm run docs:reference`. Edit the schema, not this file. -->',
    '',
    '# The step file (`kiln.yaml`)',
    '',
    schema.description ?? '',
    '',
    'kiln reads `./kiln.yaml` unless given `-f FILE`, and checks it against',
    '[`schema/kiln.schema.json`](../schema/kiln.schema.json); `kiln validate` lists every problem with its',
    '`FILE:LINE:COL`. Keys are kebab-case and unknown keys are errors. Editors that speak JSON Schema',
    '(the YAML language server, in VS Code and others) complete and check the file when its first line names',
    'the schema, as in this example:',
    '',
    '```yaml',
    EXAMPLE,
    '```',
    '',
    'The same graph can be built in TypeScript with the builder API (`job`, `step`, `pipeline`, and the mount',
    'helpers `bind`, `output`, `cache`, `tmpfs`, `secret`, `ssh`).',
    '',
  ];
  for (const section of SECTIONS) {
    const node = section.name === '' ? schema : schema.definitions[section.name];
    if (node === undefined) throw new Error(`the schema has no definition '${section.name}'`);
    out.push(
      ...renderSection(
        section.heading,
        section.name === '' ? 'The keys of the file itself.' : node.description,
        node,
        schema,
      ),
    );
  }
  return `${out.join('\n').trimEnd()}\n`;
}

function renderSection(
  heading: string,
  intro: string | undefined,
  node: SchemaNode,
  schema: RootSchema,
): string[] {
  const lines = [`## ${heading}`, '', intro ?? '', ''];
  const required = new Set(node.required ?? []);
  const rows: string[][] = [];
  for (const [key, property] of Object.entries(node.properties ?? {})) {
    rows.push([
      `\`${key}\`${required.has(key) ? ' (required)' : ''}`,
      typeCell(property, schema),
      property.default === undefined ? '' : `\`${showDefault(property.default)}\``,
      descriptionCell(property, schema),
    ]);
  }
  for (const [pattern, property] of Object.entries(node.patternProperties ?? {})) {
    rows.push([`\`${pattern.replace(/^\^/, '')}*\``, 'any', '', descriptionCell(property, schema)]);
  }
  for (const rule of node.allOf ?? []) {
    const type = rule.if?.properties?.['type']?.const;
    const target = rule.then?.$ref === undefined ? undefined : refName(rule.then.$ref);
    if (typeof type === 'string' && target !== undefined) {
      rows.push([
        `\`type: ${type}\``,
        link(type + ' mount', target),
        '',
        schema.definitions[target]?.description ?? '',
      ]);
    }
  }
  lines.push(...renderTable(['key', 'type', 'default', 'description'], rows), '');
  return lines;
}

/** A Markdown table with padded columns (as Prettier writes it, so the file stays formatted). */
function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const cells = [header, ...rows].map((row) => row.map(escapeCell));
  const widths = header.map((_, i) => Math.max(3, ...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]): string =>
    `| ${widths.map((width, i) => (row[i] ?? '').padEnd(width)).join(' | ')} |`;
  const [head, ...body] = cells;
  return [line(head ?? []), line(widths.map((width) => '-'.repeat(width))), ...body.map(line)];
}

function typeCell(property: SchemaNode, schema: RootSchema): string {
  const text = describeType(property, schema);
  const target = sectionOf(property, schema);
  return target === undefined ? text : link(text, target);
}

/** The section a property's value (or its items, or its map values) is described in. */
function sectionOf(property: SchemaNode, schema: RootSchema): string | undefined {
  const candidates: SchemaNode[] = [property];
  const resolved = resolveRef(property, schema);
  if (resolved.items !== undefined) {
    candidates.push(resolved.items);
    for (const branch of resolveRef(resolved.items, schema).oneOf ?? []) candidates.push(branch);
  }
  if (typeof resolved.additionalProperties === 'object') candidates.push(resolved.additionalProperties);
  for (const branch of resolved.oneOf ?? []) candidates.push(branch);
  for (const candidate of candidates) {
    const name = candidate.$ref === undefined ? undefined : refName(candidate.$ref);
    if (name !== undefined && REFERENCE_SECTIONS.includes(name)) return name;
  }
  return undefined;
}

function descriptionCell(property: SchemaNode, schema: RootSchema): string {
  const examples = property.examples ?? resolveRef(property, schema).examples;
  const description = property.description ?? resolveRef(property, schema).description ?? '';
  if (examples === undefined || examples.length === 0) return description;
  return `${description} Examples: ${examples.map((e) => `\`${showExample(e)}\``).join(', ')}.`;
}

function link(text: string, definition: string): string {
  const heading = SECTIONS.find((s) => s.name === definition)?.heading ?? definition;
  return `[${text}](#${heading
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .replace(/ /g, '-')})`;
}

function showDefault(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
