#!/usr/bin/env bash
# Install the CLI tools that check template.yaml, each in its own virtualenv under .tools/ (gitignored),
# so their pins (checkov holds an old `packaging`) never touch the project's .venv.
# Idempotent: a tool whose venv already answers `--version` at the pinned version is skipped.
#
#   bash .ci/tools.sh            # install sam, checkov, cfn-lint + serverless rules
#   .tools/sam/bin/sam --version
#   .tools/checkov/bin/checkov --version
#   .tools/cfn-lint/bin/cfn-lint -t template.yaml -a cfn_lint_serverless.rules   (-a takes several values: -t first)
#
# Also Debian's headless Chromium (apt package `chromium`), which the report's browser test drives
# (tests/template/test_report_browser.py): installed with apt-get when no Chromium is on PATH (as root, or with sudo).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
TOOLS_DIR="${TOOLS_DIR:-.tools}"
PYTHON="${TOOLS_PYTHON:-python3}"

SAM_VERSION="1.170.0"
CHECKOV_VERSION="3.3.30"
CFN_LINT_VERSION="1.58.0"
CFN_LINT_SERVERLESS_VERSION="0.3.6"

# install NAME BIN VERSION PIP_SPEC...
install_tool() {
  local name="$1" bin="$2" version="$3"
  shift 3
  local venv="$TOOLS_DIR/$name"
  if [ -x "$venv/bin/$bin" ] && "$venv/bin/$bin" --version 2>/dev/null | grep -qF "$version"; then
    echo "tools: $name $version already installed in $venv"
    return 0
  fi
  echo "tools: installing $name $version into $venv"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  "$venv/bin/$bin" --version
}

# Debian's chromium, unless a Chromium is already on PATH. Without root or sudo it is a warning on a developer's machine
# (the browser test then skips) and an error under CI (the test would fail there anyway).
install_chromium() {
  local found
  for found in chromium chromium-browser google-chrome; do
    if command -v "$found" >/dev/null 2>&1; then
      echo "tools: $found already installed ($(command -v "$found"))"
      return 0
    fi
  done
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; fi
  fi
  if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" -ne 0 ] && [ -z "$sudo" ]; }; then
    echo "tools: cannot install chromium here (needs apt-get as root); install Debian's chromium to run the browser test" >&2
    case "${CI:-}" in ""|0|false|no) return 0 ;; *) return 1 ;; esac
  fi
  echo "tools: installing chromium (Debian package)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
  chromium --version
}

mkdir -p "$TOOLS_DIR"
install_chromium &
chromium_pid=$!
install_tool sam sam "$SAM_VERSION" "aws-sam-cli==$SAM_VERSION" &
sam_pid=$!
install_tool checkov checkov "$CHECKOV_VERSION" "checkov==$CHECKOV_VERSION" &
checkov_pid=$!
install_tool cfn-lint cfn-lint "$CFN_LINT_VERSION" \
  "cfn-lint==$CFN_LINT_VERSION" "cfn-lint-serverless==$CFN_LINT_SERVERLESS_VERSION" &
cfnlint_pid=$!
status=0
wait "$sam_pid" || status=1
wait "$checkov_pid" || status=1
wait "$cfnlint_pid" || status=1
wait "$chromium_pid" || status=1
exit "$status"
