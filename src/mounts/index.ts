/** Typed mounts: prepareMounts for a job's container and steps, secret masking, and cache pruning. */
export * from './types.js';
export { prepareMounts, type PrepareMountsContext, type PreparedContainerMounts } from './prepare-mounts.js';
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
export { cacheVolumeName, sanitizeNamePart, isValidVolumeName } from './cache-volume-name.js';
export { tmpfsOptions } from './tmpfs-mounts.js';
export { sshSocketEnvName } from './ssh-agents.js';
export { DEFAULT_DOCKER_SOCKET_PATHS, dockerSocketPaths } from './bind-sources.js';
