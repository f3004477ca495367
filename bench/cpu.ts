/**
 * CPU time over a stretch of a benchmark: how busy the whole machine was (from /proc/stat, so the
 * engine's daemons count too) and how much CPU this process spent (kiln's API, or a raw baseline).
 */
import { readFileSync } from 'node:fs';

export interface CpuMark {
  /** Jiffies of all CPUs: busy and total, from the `cpu` line of /proc/stat; undefined off Linux. */
  readonly machine?: { readonly busy: number; readonly total: number };
  readonly self: NodeJS.CpuUsage;
}

export interface CpuSpent {
  /** Share of the machine's CPU time that was busy, 0..1; NaN when unknown. */
  readonly machineBusy: number;
  /** CPU seconds (user + system) of this process. */
  readonly selfSeconds: number;
}

function readMachine(): CpuMark['machine'] {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

export function markCpu(): CpuMark {
  const machine = readMachine();
  return { ...(machine ? { machine } : {}), self: process.cpuUsage() };
}

export function cpuSince(mark: CpuMark): CpuSpent {
  const now = readMachine();
  const self = process.cpuUsage(mark.self);
  const machineBusy =
    now && mark.machine && now.total > mark.machine.total
      ? (now.busy - mark.machine.busy) / (now.total - mark.machine.total)
      : NaN;
  return { machineBusy, selfSeconds: (self.user + self.system) / 1e6 };
}
