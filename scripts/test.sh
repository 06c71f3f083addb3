#!/usr/bin/env bash
# Set up a fresh machine and run every check: ruff, mypy, import layering, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== ruff";         ruff check src tests bench
echo "== mypy";         mypy
echo "== import-linter"; lint-imports
echo "== pytest";       python3 -m pytest -q -p no:cacheprovider "$@"
