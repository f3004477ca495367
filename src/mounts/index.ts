/**
 * Typed mounts: planMounts and acquireMounts for a job's container and steps, secret masking, and the
 * caches' listing and pruning.
 */
export * from './types.js';
export { planMounts, type PlanMountsContext } from './plan-mounts.js';
export { acquireMounts, type AcquireMountsContext } from './acquire-mounts.js';
export { prepareMounts, type PrepareMountsContext } from './prepare-mounts.js';
export {
  compileMask,
  createMasker,
  maskAll,
  maskPatterns,
  MASK,
  StreamsMasker,
  type CompiledMask,
  type OutputMasker,
  type StreamChunk,
} from './secret-masker.js';
export { RunSecrets } from './run-secrets.js';
export {
  listCaches,
  removeCaches,
  ensureCacheVolume,
  cacheVolumeLabels,
  CACHE_VOLUME_FILTER,
  type CacheInfo,
  type RemoveCachesOptions,
  type RemoveCachesResult,
} from './cache-volumes.js';
export { cacheVolumeName } from './cache-volume-name.js';
export { tmpfsOptions } from './tmpfs-mounts.js';
export { sshSocketEnvName } from './ssh-agents.js';
export { DEFAULT_DOCKER_SOCKET_PATHS, dockerSocketPaths } from './bind-sources.js';
