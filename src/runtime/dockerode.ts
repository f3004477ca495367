/**
 * dockerode, loaded lazily where it is heavy. When it loads, dockerode requires its BuildKit session
 * support (gRPC and protobuf) and docker-modem its ssh transport (ssh2): together about half of its
 * start-up time, and a large part of an unchanged rerun's, for features a run over a unix socket never
 * uses. Both modules export a single function; each is put in the require cache as a function that loads
 * the real module on its first call and hands over to it. Nothing else of dockerode changes.
 */
import { createRequire, Module } from 'node:module';
import type DockerType from 'dockerode';

const require = createRequire(import.meta.url);

/** Defers the module at `specifier` (resolved from `from`) to its first call. */
function deferCall(specifier: string, from: string): void {
  let path: string;
  try {
    path = createRequire(require.resolve(from)).resolve(specifier);
  } catch {
    return; // another layout: it loads as it is
  }
  if (require.cache[path]) return;
  const stub = new Module(path);
  stub.filename = path;
  stub.loaded = true;
  let real: ((...args: unknown[]) => unknown) | undefined;
  stub.exports = function deferred(this: unknown, ...args: unknown[]): unknown {
    if (real === undefined) {
      delete require.cache[path];
      real = require(path) as (...args: unknown[]) => unknown;
    }
    return real.apply(this, args);
  };
  require.cache[path] = stub;
}

deferCall('./session', 'dockerode/lib/docker.js');
deferCall('./ssh', 'docker-modem/lib/modem.js');
const Docker = require('dockerode') as typeof DockerType;

export default Docker;
