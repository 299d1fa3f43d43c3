# Shared setup for scripts/*.sh: a project virtualenv with the Python tools, sourced.
# Creates .venv (or $SMC_VENV) on first use and installs what the scripts need into it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SMC_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import maturin, pytest, hypothesis, mypy, ziglang, auditwheel" 2>/dev/null; then
    echo "==> installing maturin, pytest, hypothesis, mypy, ziglang, auditwheel into $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet "maturin>=1.7,<2" pytest hypothesis "mypy>=1.11" \
        ziglang auditwheel
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
