#!/usr/bin/env bash
# Set up everything and run the example project end to end:
# installs the dependencies, builds kiln, makes sure a Docker engine answers (installing and starting one
# when run as root on Debian), builds the fixture images, then runs fixtures/example/kiln.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules ]]; then npm ci --no-audit --no-fund; fi
npm run --silent build
bash scripts/ensure-engine.sh
bash scripts/build-fixtures.sh
export EXAMPLE_PUBLISH_TOKEN=${EXAMPLE_PUBLISH_TOKEN:-example-token-123}
exec npx kiln run -f fixtures/example/kiln.yaml "$@"
