/**
 * A fast reader for the plain shape most step files have: block maps and lists, one-line flow maps and
 * lists, one-line scalars, comments. It yields the same data and source offsets as the `yaml` package's
 * document walk, about ten times faster, and gives up (returns `undefined`) at anything else — anchors,
 * tags, block scalars, multi-line scalars, floats, duplicate keys, syntax errors — so that the `yaml`
 * package reads those files and reports their errors. A unit test holds the two readers equal.
 */
import type { Diagnostic } from '../errors.js';
import { OffsetNode, SourceOffsets } from './source-positions.js';

export interface FastParseResult {
  readonly data: Record<string, unknown>;
  readonly offsets: SourceOffsets;
  /** Always empty: problems make this reader give up. */
  readonly diagnostics: Diagnostic[];
}

class Unsupported extends Error {}

interface Line {
  /** Column of the first character of content (0-based): the line's indentation. */
  readonly indent: number;
  /** Offset of the first character of content. */
  readonly start: number;
  /** Offset of the line's end (its newline, or the end of the text). */
  readonly end: number;
}

/** Plain scalars the core schema reads as something other than a string, or as a number not handled here. */
const NULL = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const SIMPLE_INT = /^-?(?:0|[1-9][0-9]{0,14})$/;
const OTHER_NUMBER =
  /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
/** Characters a plain scalar may not start with. */
const INDICATORS = new Set([
  '-',
  '?',
  ':',
  ',',
  '[',
  ']',
  '{',
  '}',
  '#',
  '&',
  '*',
  '!',
  '|',
  '>',
  "'",
  '"',
  '%',
  '@',
  '`',
]);

/** Reads `text` when it has the plain shape, else returns `undefined`. */
export function parseSimpleYaml(text: string): FastParseResult | undefined {
  if (/[\t\r\uFEFF]/.test(text)) return undefined;
  try {
    return new FastParser(text).parse();
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}

function unsupported(): never {
  throw new Unsupported();
}

class FastParser {
  private readonly lines: Line[] = [];
  private index = 0;

  constructor(private readonly text: string) {
    let start = 0;
    while (start <= text.length) {
      let end = text.indexOf('\n', start);
      if (end === -1) end = text.length;
      let content = start;
      while (content < end && text.charCodeAt(content) === 32) content++;
      const first = text[content];
      if (content < end && first !== '#') {
        if (
          content === start &&
          (first === '%' || text.startsWith('---', start) || text.startsWith('...', start))
        ) {
          unsupported();
        }
        this.lines.push({ indent: content - start, start: content, end });
      }
      start = end + 1;
    }
  }

  parse(): FastParseResult {
    const first = this.lines[0];
    if (first === undefined || first.indent !== 0 || this.isSeqItem(first)) unsupported();
    const root = new OffsetNode(first.start);
    const data = this.parseMap(0, root);
    if (this.index !== this.lines.length) unsupported();
    return { data, offsets: new SourceOffsets(root), diagnostics: [] };
  }

  private isSeqItem(line: Line): boolean {
    const next = this.text[line.start + 1];
    return this.text[line.start] === '-' && (line.start + 1 === line.end || next === ' ');
  }

  /** The block collection that starts at the current line, recording its offsets in `node`. */
  private parseBlock(node: OffsetNode): unknown {
    const line = this.lines[this.index] as Line;
    return this.isSeqItem(line) ? this.parseSeq(line.indent, node) : this.parseMap(line.indent, node);
  }

  private parseMap(indent: number, node: OffsetNode): Record<string, unknown> {
    const children = new Map<string, OffsetNode>();
    node.children = children;
    const out: Record<string, unknown> = {};
    for (
      let line = this.lines[this.index];
      line !== undefined && line.indent === indent;
      line = this.lines[this.index]
    ) {
      if (this.isSeqItem(line)) unsupported();
      const [key, colon] = this.readKey(line.start, line.end);
      if (Object.hasOwn(out, key) || key === '<<' || key === '__proto__') unsupported();
      const valueStart = this.skipSpaces(colon + 1, line.end);
      if (this.atLineEnd(valueStart, line.end)) {
        this.index++;
        const next = this.lines[this.index];
        if (next === undefined) unsupported();
        if (next.indent > indent || (next.indent === indent && this.isSeqItem(next))) {
          const child = this.entry(children, key, line.start, next.start);
          out[key] = this.parseBlock(child);
        } else {
          unsupported();
        }
      } else {
        out[key] = this.readInline(valueStart, line.end, this.entry(children, key, line.start, valueStart));
        this.index++;
      }
    }
    this.expectDedent(indent);
    return out;
  }

  private parseSeq(indent: number, node: OffsetNode): unknown[] {
    const items: OffsetNode[] = [];
    node.children = items;
    const out: unknown[] = [];
    for (
      let line = this.lines[this.index];
      line !== undefined && line.indent === indent;
      line = this.lines[this.index]
    ) {
      if (!this.isSeqItem(line)) unsupported();
      const start = this.skipSpaces(line.start + 1, line.end);
      if (this.atLineEnd(start, line.end)) {
        this.index++;
        const next = this.lines[this.index];
        if (next === undefined || next.indent <= indent) unsupported();
        out.push(this.parseBlock(this.item(items, next.start)));
      } else if (this.text[start] === '-' && (start + 1 === line.end || this.text[start + 1] === ' ')) {
        unsupported();
      } else if (this.startsMapEntry(start, line.end)) {
        // `- key: value`: a map whose entries are indented to the first key.
        const column = start - (line.start - line.indent);
        this.lines[this.index] = { indent: column, start, end: line.end };
        out.push(this.parseMap(column, this.item(items, start)));
      } else {
        out.push(this.readInline(start, line.end, this.item(items, start)));
        this.index++;
      }
    }
    this.expectDedent(indent);
    return out;
  }

  private entry(
    children: Map<string, OffsetNode>,
    key: string,
    keyOffset: number,
    valueOffset: number,
  ): OffsetNode {
    const child = new OffsetNode(valueOffset);
    child.key = keyOffset;
    children.set(key, child);
    return child;
  }

  private item(items: OffsetNode[], valueOffset: number): OffsetNode {
    const child = new OffsetNode(valueOffset);
    items.push(child);
    return child;
  }

  /** After a block at `indent`, the next line must belong to an enclosing block. */
  private expectDedent(indent: number): void {
    const next = this.lines[this.index];
    if (next !== undefined && next.indent > indent) unsupported();
  }

  private skipSpaces(position: number, end: number): number {
    let p = position;
    while (p < end && this.text.charCodeAt(p) === 32) p++;
    return p;
  }

  /** Nothing left on the line but spaces and a comment. */
  private atLineEnd(position: number, end: number): boolean {
    return position >= end || this.text[position] === '#';
  }

  private startsMapEntry(start: number, end: number): boolean {
    const first = this.text[start];
    if (first === '"' || first === "'") {
      try {
        const [, after] = this.readQuoted(start, end);
        return this.text[after] === ':';
      } catch {
        unsupported();
      }
    }
    if (first === '[' || first === '{') return false;
    const colon = this.findPlainColon(start, end);
    return colon !== -1;
  }

  /** The `:` that ends a plain key on this line (followed by a space or the line's end), or -1. */
  private findPlainColon(start: number, end: number): number {
    for (let p = start; p < end; p++) {
      const c = this.text[p];
      if (c === '#' && this.text[p - 1] === ' ') return -1;
      if (c === ':' && (p + 1 === end || this.text[p + 1] === ' ')) return p;
    }
    return -1;
  }

  /** A block map key; returns it and the offset of its `:`. */
  private readKey(start: number, end: number): [string, number] {
    const first = this.text[start] as string;
    if (first === '"' || first === "'") {
      const [key, after] = this.readQuoted(start, end);
      if (this.text[after] !== ':' || (after + 1 < end && this.text[after + 1] !== ' ')) unsupported();
      return [key, after];
    }
    if (INDICATORS.has(first)) unsupported();
    const colon = this.findPlainColon(start, end);
    if (colon === -1) unsupported();
    const key = this.text.slice(start, colon).trimEnd();
    if (typeof resolvePlain(key) !== 'string') unsupported();
    return [key, colon];
  }

  /** A value that starts and ends on this line: a flow collection, a quoted or a plain scalar. */
  /** `node` holds the value's offsets (its own offset is already set). */
  private readInline(start: number, end: number, node: OffsetNode): unknown {
    const first = this.text[start] as string;
    let value: unknown;
    let after: number;
    if (first === '{' || first === '[' || first === '"' || first === "'") {
      [value, after] =
        first === '{' || first === '[' ? this.readFlow(start, end, node) : this.readQuoted(start, end);
      // What follows a closing bracket or quote on the line: nothing, or spaces and a comment.
      if (after < end && this.text[after] !== ' ') unsupported();
    } else {
      if (INDICATORS.has(first)) unsupported();
      let stop = end;
      for (let p = start; p < end; p++) {
        const c = this.text[p];
        if (c === '#' && this.text[p - 1] === ' ') {
          stop = p;
          break;
        }
        if (c === ':' && (p + 1 === end || this.text[p + 1] === ' ')) unsupported();
      }
      value = resolvePlain(this.text.slice(start, stop).trimEnd());
      after = stop;
    }
    if (!this.atLineEnd(this.skipSpaces(after, end), end)) unsupported();
    return value;
  }

  /** A one-line flow map or list; returns it and the offset after its closing bracket. */
  private readFlow(start: number, end: number, node: OffsetNode): [unknown, number] {
    const isMap = this.text[start] === '{';
    const close = isMap ? '}' : ']';
    const map: Record<string, unknown> = {};
    const list: unknown[] = [];
    const entries = new Map<string, OffsetNode>();
    const items: OffsetNode[] = [];
    node.children = isMap ? entries : items;
    let p = this.skipSpaces(start + 1, end);
    if (this.text[p] === close) return [isMap ? map : list, p + 1];
    for (;;) {
      if (p >= end) unsupported();
      if (isMap) {
        const keyStart = p;
        let key: string;
        const first = this.text[p];
        if (first === '"' || first === "'") [key, p] = this.readQuoted(p, end);
        else [key, p] = this.readFlowPlain(p, end, true);
        if (typeof key !== 'string' || this.text[p] !== ':' || this.text[p + 1] !== ' ') unsupported();
        if (Object.hasOwn(map, key) || key === '<<' || key === '__proto__') unsupported();
        p = this.skipSpaces(p + 1, end);
        [map[key], p] = this.readFlowValue(p, end, this.entry(entries, key, keyStart, p));
      } else {
        let item: unknown;
        [item, p] = this.readFlowValue(p, end, this.item(items, p));
        if (this.text[p] === ':') unsupported();
        list.push(item);
      }
      p = this.skipSpaces(p, end);
      const c = this.text[p];
      if (c === close) return [isMap ? map : list, p + 1];
      if (c !== ',') unsupported();
      p = this.skipSpaces(p + 1, end);
      if (this.text[p] === close || this.text[p] === ',') unsupported();
    }
  }

  private readFlowValue(start: number, end: number, node: OffsetNode): [unknown, number] {
    const first = this.text[start];
    if (first === '{' || first === '[') return this.readFlow(start, end, node);
    if (first === '"' || first === "'") {
      const [value, after] = this.readQuoted(start, end);
      return [value, this.skipSpaces(after, end)];
    }
    const [text, after] = this.readFlowPlain(start, end, false);
    return [resolvePlain(text), after];
  }

  /** A plain scalar in a flow collection: up to `,`, a bracket, `: ` (for keys) or the end. */
  private readFlowPlain(start: number, end: number, isKey: boolean): [string, number] {
    const first = this.text[start] as string;
    if (INDICATORS.has(first)) unsupported();
    let p = start;
    for (; p < end; p++) {
      const c = this.text[p] as string;
      if (c === ',' || c === '[' || c === ']' || c === '{' || c === '}') break;
      if (c === '#' && this.text[p - 1] === ' ') unsupported();
      const next = this.text[p + 1];
      if (c === ':' && (p + 1 === end || next === ' ' || next === ',' || next === ']' || next === '}')) {
        if (!isKey) unsupported();
        break;
      }
    }
    const text = this.text.slice(start, p).trimEnd();
    if (text === '' || (isKey && typeof resolvePlain(text) !== 'string')) unsupported();
    return [text, p];
  }

  /** A quoted scalar on one line; returns it and the offset after its closing quote. */
  private readQuoted(start: number, end: number): [string, number] {
    const quote = this.text[start];
    let out = '';
    let p = start + 1;
    if (quote === "'") {
      for (;;) {
        const next = this.text.indexOf("'", p);
        if (next === -1 || next >= end) unsupported();
        out += this.text.slice(p, next);
        if (this.text[next + 1] === "'") {
          out += "'";
          p = next + 2;
        } else {
          return [out, next + 1];
        }
      }
    }
    for (; p < end; p++) {
      const c = this.text[p] as string;
      if (c === '"') return [out, p + 1];
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[++p];
      const simple = e === undefined ? undefined : ESCAPES[e];
      if (simple !== undefined) out += simple;
      else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(this.text.slice(p + 1, p + 5))) {
        out += String.fromCharCode(parseInt(this.text.slice(p + 1, p + 5), 16));
        p += 4;
      } else unsupported();
    }
    return unsupported();
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\',
  '"': '"',
  '/': '/',
  n: '\n',
  t: '\t',
  r: '\r',
  '0': '\0',
  ' ': ' ',
};

/** A plain scalar as the YAML 1.2 core schema reads it; gives up on numbers other than plain integers. */
function resolvePlain(text: string): unknown {
  if (NULL.test(text)) return null;
  if (BOOL.test(text)) return text[0] === 't' || text[0] === 'T';
  if (SIMPLE_INT.test(text)) return Number(text);
  if (OTHER_NUMBER.test(text)) unsupported();
  return text;
}
