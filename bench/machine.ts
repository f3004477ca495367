/**
 * Which machine and which engine a benchmark ran on, so that figures are read with their context.
 */
import type Docker from 'dockerode';
import { cpus, release, totalmem, type as osType } from 'node:os';

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
}

export interface EngineDescription {
  readonly version: string;
  readonly apiVersion: string;
  readonly storageDriver: string;
  readonly runc: string;
  readonly cgroupVersion: string;
  readonly cpus: number;
  readonly memoryGiB: number;
}

export function describeMachine(): MachineInfo {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryGiB: totalmem() / 2 ** 30,
    os: `${osType()} ${release()}`,
    node: process.version,
  };
}

export async function describeEngine(docker: Docker): Promise<EngineDescription> {
  const version = (await docker.version()) as unknown as {
    Version: string;
    ApiVersion: string;
    Components?: Array<{ Name: string; Version: string }>;
  };
  const info = (await docker.info()) as {
    Driver?: string;
    CgroupVersion?: string;
    NCPU?: number;
    MemTotal?: number;
  };
  const runc = version.Components?.find((c) => c.Name.toLowerCase() === 'runc')?.Version ?? 'unknown';
  return {
    version: version.Version,
    apiVersion: version.ApiVersion,
    storageDriver: info.Driver ?? 'unknown',
    runc,
    cgroupVersion: info.CgroupVersion ?? 'unknown',
    cpus: info.NCPU ?? 0,
    memoryGiB: (info.MemTotal ?? 0) / 2 ** 30,
  };
}

export function machineLine(machine: MachineInfo): string {
  return (
    `${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB.toFixed(1)} GiB, ` +
    `${machine.os}, Node ${machine.node}`
  );
}

export function engineLine(engine: EngineDescription): string {
  return (
    `Docker ${engine.version} (API ${engine.apiVersion}), storage ${engine.storageDriver}, ` +
    `runc ${engine.runc}, cgroup v${engine.cgroupVersion}`
  );
}
