import test from 'ava';
import { parseDuration } from '../../src/definition/durations.js';
import { parseMode, parseSize } from '../../src/definition/sizes.js';

type Parse = (value: string | number) => number;

const parses = test.macro<[Parse, string | number, number]>({
  exec(t, parse, input, expected) {
    t.is(parse(input), expected);
  },
  title: (_title, parse, input, expected) => `${parse.name} reads ${JSON.stringify(input)} as ${expected}`,
});

const refuses = test.macro<[Parse, string | number, string]>({
  exec(t, parse, input, mentions) {
    const error = t.throws(() => parse(input));
    t.true(error.message.includes(JSON.stringify(input)), error.message);
    t.true(error.message.includes(mentions), error.message);
  },
  title: (_title, parse, input) => `${parse.name} refuses ${JSON.stringify(input)} naming it`,
});

test(parses, parseDuration, '90s', 90_000);
test(parses, parseDuration, '10m', 600_000);
test(parses, parseDuration, '1h30m', 5_400_000);
test(parses, parseDuration, '500ms', 500);
test(parses, parseDuration, '1m30.5s', 90_500);
test(parses, parseDuration, '2d', 172_800_000);
test(parses, parseDuration, ' 45S ', 45_000);
test(parses, parseDuration, 30, 30_000);
test(parses, parseDuration, 1.5, 1_500);
test(parses, parseDuration, '20', 20_000);
test(refuses, parseDuration, 'soon', 'e.g. 90s');
test(refuses, parseDuration, '', 'e.g. 90s');
test(refuses, parseDuration, '10 minutes', 'e.g. 90s');
test(refuses, parseDuration, '1m30', 'e.g. 90s');
test(refuses, parseDuration, '5x', 'e.g. 90s');
test(refuses, parseDuration, -1, 'e.g. 90s');

test(parses, parseSize, '256m', 256 * 1024 ** 2);
test(parses, parseSize, '1g', 1024 ** 3);
test(parses, parseSize, '512k', 512 * 1024);
test(parses, parseSize, '1024', 1024);
test(parses, parseSize, '64mb', 64 * 1024 ** 2);
test(parses, parseSize, '1GiB', 1024 ** 3);
test(parses, parseSize, '1.5k', 1536);
test(parses, parseSize, '100b', 100);
test(parses, parseSize, 4096, 4096);
test(refuses, parseSize, 'big', 'e.g. 512k');
test(refuses, parseSize, '10q', 'e.g. 512k');
test(refuses, parseSize, '-5m', 'e.g. 512k');
test(refuses, parseSize, 1.5, 'e.g. 512k');

test(parses, parseMode, '1777', 0o1777);
test(parses, parseMode, '0400', 0o400);
test(parses, parseMode, '0o755', 0o755);
test(parses, parseMode, 400, 0o400);
test(parses, parseMode, 1777, 0o1777);
test(parses, parseMode, 0, 0);
test(refuses, parseMode, '0800', '"0400"');
test(refuses, parseMode, 493, '"0400"');
test(refuses, parseMode, '17777', 'at most 7777');
test(refuses, parseMode, 'rw', '"0400"');
