#!/usr/bin/env bash
# Make a virtual environment with AIDE (aideml) and its core dependencies only, for
# bench/search_quality.py --aide. AIDE pins an old numpy/pandas and lists dozens of ML
# packages it never imports in its core loop; installing those is neither needed nor
# possible offline, so aideml goes in with --no-deps and the modules it imports are added.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${AIDE_VENV:-.aide-venv}"
[ -x "$VENV/bin/python" ] || python -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps "aideml==0.2.2"
"$VENV/bin/pip" install -q --disable-pip-version-check openai backoff funcy humanize jsonschema \
  dataclasses-json omegaconf coolname rich shutup genson black numpy pandas igraph tqdm anthropic
"$VENV/bin/python" -c "import aide; print('aide', aide.__file__)"
