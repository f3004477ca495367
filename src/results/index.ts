/**
 * The job cache ("results"; not to be confused with cache mounts): keys, content digests of bind
 * sources and outputs, miss reasons, and the result store in the state folder. No Docker here: output
 * volumes live in runtime/output-volumes.ts.
 */
export {
  CANONICAL_FORMAT,
  canonicalEncode,
  canonicalJson,
  digestHex,
  digestOf,
  isDigest,
  sha256Digest,
  shortDigest,
} from './canonical.js';
export {
  TREE_FORMAT,
  compareTreePaths,
  entryDescriptor,
  listingOf,
  type EntryType,
  type TreeEntry,
  type TreeListing,
} from './tree-format.js';
export {
  treeDigest,
  type TreeDigestOptions,
  type TreeDigestResult,
  type TreeDigestCounts,
} from './tree-digest.js';
export { RACY_MARGIN_NS, StatIndex, type StatIndexCounts } from './stat-index.js';
export {
  KILNIGNORE,
  NO_EXCLUDES,
  excludeRules,
  loadExcludeRules,
  type ExcludeRules,
} from './ignore-rules.js';
export { tarDigest, UnsafeTarPathError, type TarListing } from './tar-digest.js';
export {
  KEY_FORMAT,
  computeKey,
  keyMaterial,
  type BindInput,
  type ConsumedOutputInput,
  type KeyInputs,
  type MountInput,
  type StepInput,
} from './key-inputs.js';
export {
  NO_EARLIER_RESULT,
  missReasons,
  sameKeyReason,
  listingChanges,
  type MissReasonOptions,
  type SameKeyCause,
} from './miss-reasons.js';
export {
  RESULT_FORMAT,
  ResultStore,
  choosePrunable,
  type AcquireResult,
  type LastInputs,
  type ResultLookup,
  type ResultOutput,
  type ResultPin,
  type ResultRecord,
  type SealOutcome,
  type StoredResult,
} from './result-store.js';
export { resultsDir, statIndexPath, storeId } from './results-dir.js';
export { ExportError, SourceReadError } from './errors.js';
export {
  REMOTE_FORMAT,
  RemoteCacheError,
  decodeEntry,
  encodeEntry,
  type RemoteCache,
  type RemoteEntry,
  type RemoteOutput,
} from './remote-cache.js';
export { DirectoryRemoteCache } from './remote-directory.js';
export { HttpRemoteCache, type HttpRemoteCacheOptions } from './remote-http.js';
export { remoteSettings, type RemoteSettings, type RemoteSettingsOptions } from './remote-settings.js';
