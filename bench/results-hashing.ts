/**
 * Hashing a bind source for the job cache: the content digest of a generated tree of small files
 * (100,000 in the full run), cold (no stat index: every file read) and warm (an unchanged tree, the
 * stat index in the state folder), against git on the same tree: `git add -A` into a fresh repository
 * (git's cold: every file hashed and stored) and `git status` once the index is current (git's warm:
 * every file lstat'ed against its index), and `git ls-files -s` (reads the index, no lstat) for scale.
 *
 * git runs as a child process (its start, a few milliseconds, is in its figures); kiln's digest runs in
 * this process. The files are in the page cache for both: what is measured is the walk and the hashing,
 * not the disk.
 */
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { excludeRules } from '../src/results/ignore-rules.js';
import { treeDigest, type TreeDigestResult } from '../src/results/tree-digest.js';
import type { BenchContext } from './context.js';
import { runRounds, samplesOf, type Variant } from './repeat.js';
import { atMost, metric, ratio, type CaseResult } from './report.js';
import { formatNumber } from './stats.js';

/** Files per folder of the generated tree (folders three levels deep). */
const FILES_PER_FOLDER = 100;

/** Writes `files` small files, 100 per folder, in folders `d<i>/e<j>/f<k>`; returns the tree's root. */
export async function generateTree(dir: string, files: number): Promise<string> {
  const root = join(dir, 'tree');
  await rm(root, { recursive: true, force: true });
  const folders = Math.ceil(files / FILES_PER_FOLDER);
  let written = 0;
  for (let folder = 0; folder < folders; folder++) {
    const path = join(
      root,
      `d${Math.floor(folder / 100)}`,
      `e${Math.floor(folder / 10) % 10}`,
      `f${folder % 10}`,
    );
    await mkdir(path, { recursive: true });
    const batch: Promise<void>[] = [];
    for (let i = 0; i < FILES_PER_FOLDER && written < files; i++, written++) {
      batch.push(writeFile(join(path, `file-${i}.c`), `/* file ${folder}.${i} */\nint f${folder}_${i};\n`));
    }
    await Promise.all(batch);
  }
  return root;
}

/** Runs git in `cwd` with no user or system configuration; resolves with its wall time in ms. */
async function timedGit(cwd: string, args: readonly string[]): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('git', args, {
      cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`git ${args.join(' ')} exited ${code}: ${stderr.trim()}`)),
    );
  });
  return performance.now() - started;
}

export async function benchResultsHashing(context: BenchContext): Promise<CaseResult> {
  const files = context.quick ? 20_000 : 100_000;
  context.log(`results-hashing: writing a tree of ${files} files`);
  const root = await generateTree(context.workDir, files);
  const indexPath = join(context.workDir, 'state', 'stat-index.idx');
  // git's folder is in the tree: leave it out of kiln's digest, as a .kilnignore with `.git` would.
  const rules = excludeRules(['.git'], [], '');
  let lastWarm: TreeDigestResult | undefined;

  // The warm variants need a stat index and a git index that are current. A file written within the
  // racy margin of a scan is read again on the next one, so two scans settle the stat index.
  await timedGit(root, ['init', '-q']);
  await timedGit(root, ['add', '-A']);
  await treeDigest({ root, rules, indexPath });
  await treeDigest({ root, rules, indexPath });

  const variants: Variant[] = [
    {
      name: 'kiln warm',
      async run() {
        const started = performance.now();
        lastWarm = await treeDigest({ root, rules, indexPath });
        return { 'kiln.warm': performance.now() - started };
      },
    },
    {
      name: 'git status',
      async run() {
        return { 'git.status': await timedGit(root, ['status', '--porcelain']) };
      },
    },
    {
      name: 'git ls-files -s',
      async run() {
        return { 'git.lsfiles': await timedGit(root, ['ls-files', '-s']) };
      },
    },
    {
      name: 'kiln cold',
      async run() {
        const started = performance.now();
        await treeDigest({ root, rules });
        return { 'kiln.cold': performance.now() - started };
      },
    },
    {
      name: 'git add -A (fresh repository)',
      async run() {
        const scratch = join(context.workDir, 'git-cold');
        await rm(scratch, { recursive: true, force: true });
        await mkdir(scratch, { recursive: true });
        const gitDir = ['--git-dir', scratch, '--work-tree', root];
        await timedGit(root, [...gitDir, 'init', '-q']);
        const ms = await timedGit(root, [...gitDir, 'add', '-A']);
        await rm(scratch, { recursive: true, force: true });
        return { 'git.add': ms };
      },
    },
  ];

  try {
    const { samples, retries } = await runRounds(context, 'results-hashing', variants);
    const kilnWarm = metric(
      'kiln digest, warm (unchanged tree, stat index)',
      'ms',
      samplesOf(samples, 'kiln.warm'),
    );
    const gitStatus = metric('git status (index current)', 'ms', samplesOf(samples, 'git.status'));
    const gitLsFiles = metric(
      'git ls-files -s (reads the index only)',
      'ms',
      samplesOf(samples, 'git.lsfiles'),
    );
    const kilnCold = metric(
      'kiln digest, cold (no stat index, every file read)',
      'ms',
      samplesOf(samples, 'kiln.cold'),
    );
    const gitAdd = metric('git add -A into a fresh repository', 'ms', samplesOf(samples, 'git.add'));
    const counts = lastWarm?.counts;
    return {
      id: 'results-hashing',
      title: 'Job cache: hashing a bind source',
      setup:
        `A generated tree of ${files} small files (${FILES_PER_FOLDER} per folder, three levels), in the page ` +
        `cache; kiln's content digest of it against git on the same tree. ${context.repetitions} repetitions ` +
        `interleaved after a warm-up.`,
      params: { files, repetitions: context.repetitions },
      metrics: [kilnWarm, gitStatus, gitLsFiles, kilnCold, gitAdd],
      ratios: [
        ratio('kiln warm / git status', kilnWarm, gitStatus, atMost(1)),
        ratio('kiln cold / git add -A', kilnCold, gitAdd),
        ratio('kiln warm / git ls-files -s', kilnWarm, gitLsFiles),
      ],
      data: counts ? { warmCounts: counts } : undefined,
      notes: [
        ...(counts
          ? [
              `The last warm digest took ${formatNumber(counts.trusted)} file digests from the stat index and read ` +
                `${formatNumber(counts.racy + counts.missing)} files.`,
            ]
          : []),
        'git status and git ls-files include starting git (a few ms); the kiln digest runs in the bench process.',
        ...retries,
      ],
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
