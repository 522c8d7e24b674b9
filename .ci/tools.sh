#!/usr/bin/env bash
# Install the CLI tools that check template.yaml, each in its own virtualenv under .tools/ (gitignored),
# so their pins (checkov holds an old `packaging`) never touch the project's .venv.
# Idempotent: a tool whose venv already answers `--version` at the pinned version is skipped.
#
#   bash .ci/tools.sh            # install sam, checkov, cfn-lint + serverless rules
#   .tools/sam/bin/sam --version
#   .tools/checkov/bin/checkov --version
#   .tools/cfn-lint/bin/cfn-lint -t template.yaml -a cfn_lint_serverless.rules   (-a takes several values: -t first)
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

mkdir -p "$TOOLS_DIR"
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
exit "$status"
