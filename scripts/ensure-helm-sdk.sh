#!/usr/bin/env bash
# A virtualenv at .venv-helm with helm-sdkpy: Helm's own Go library (lint) shipped inside a PyPI wheel, since
# the helm binary is not in Debian and nothing else can be downloaded here. helm-sdkpy needs Python >= 3.12;
# the machine's pyenv has one. tests/deploy/test_helm_chart.py uses it to run `helm lint` on the chart.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-helm
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import helm_sdkpy' 2>/dev/null; then
  exit 0
fi
python=""
for candidate in python3.13 python3.12; do
  for version in $(pyenv versions --bare 2>/dev/null | grep -E "^${candidate#python}(\.|$)" || true); do
    python=$(PYENV_VERSION=$version pyenv which "$candidate") && break 2
  done
  command -v "$candidate" >/dev/null && "$candidate" --version >/dev/null 2>&1 && python=$(command -v "$candidate") && break
done
if [ -z "$python" ]; then
  echo "ensure-helm-sdk: no Python >= 3.12 found (helm-sdkpy needs one)" >&2
  exit 1
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'helm-sdkpy>=0.1.32,<0.2' 'pyyaml>=6'
