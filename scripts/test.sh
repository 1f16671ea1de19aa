#!/usr/bin/env bash
# The one test command: installs the project with its test extras, starts a Docker engine
# when one can be started (Docker tests skip with a reason otherwise), then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --disable-pip-version-check -e '.[test]'
if [ -f scripts/docker-engine.sh ]; then
  bash scripts/docker-engine.sh || echo "test.sh: no Docker engine could be started; Docker tests will skip"
fi
export LITELLM_LOCAL_MODEL_COST_MAP=True
exec python -m pytest "$@"
