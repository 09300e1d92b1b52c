#!/usr/bin/env bash
# Install cloudsvc and its runtime dependencies (no test tools) into a new virtualenv at $1.
# The Dockerfile's build stage runs exactly this; so does tests/deploy/test_dockerfile.py.
set -euo pipefail
target=${1:?usage: scripts/install-runtime.sh VENV_DIR}
source_dir=$(cd "$(dirname "$0")/.." && pwd)
python3 -m venv "$target"
"$target/bin/python" -m pip install --quiet --upgrade pip
"$target/bin/python" -m pip install --quiet "$source_dir"
