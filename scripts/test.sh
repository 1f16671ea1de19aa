#!/usr/bin/env bash
# The one test command: installs the project with its test and Ray extras, starts a Docker engine
# when one can be started (Docker tests skip with a reason otherwise), then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --disable-pip-version-check -e '.[test,ray]'
# Headless Chromium opens the HTML reports in tests (they skip, saying so, where it cannot be installed).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }) \
    || echo "test.sh: chromium could not be installed; report rendering tests will skip"
fi
if [ -f scripts/docker-engine.sh ]; then
  bash scripts/docker-engine.sh || echo "test.sh: no Docker engine could be started; Docker tests will skip"
fi
export LITELLM_LOCAL_MODEL_COST_MAP=True
# The shipped dataset tasks, built from scikit-learn's bundled data (the docs' examples run them).
python examples/tasks/build.py --if-missing >/dev/null
exec python -m pytest "$@"
