# Shared by scripts/test, scripts/demo and scripts/bench: make the machine ready.
# Installs the Debian packages that are missing (sudo when not root), creates .venv
# and installs the project into it. Sourced, not run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

make_venv() {
    local extras="$1"
    if [ ! -x "$PY" ]; then
        echo "==> creating $VENV"
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.omo-installed-$extras"
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        echo "==> installing omo-edge[$extras] into the venv"
        local log="$VENV/pip-install.log"
        if ! { "$PY" -m pip install -q --disable-pip-version-check --upgrade pip &&
               "$PY" -m pip install -q --disable-pip-version-check -e "$ROOT[$extras]"; } >"$log" 2>&1; then
            cat "$log" >&2
            echo "pip install failed (log above, kept in $log)" >&2
            return 1
        fi
        # setuptools only builds packages, and pip brings its own for that. Left in the
        # venv, it makes pygame import pkg_resources at every start (0.15 s of CPU here).
        "$PY" -m pip uninstall -q -y setuptools >/dev/null 2>&1 || true
        touch "$stamp"
    fi
}

# python3-venv: a fresh Debian lacks it; mosquitto: the broker the loop talks to.
BASE_PACKAGES=(python3-venv mosquitto mosquitto-clients)
# dbus-python (for the fake BlueZ in tests) builds from source; dbus runs the private bus.
TEST_PACKAGES=(gcc python3-dev libdbus-1-dev libglib2.0-dev pkg-config dbus)
# postgresql: the throwaway cluster the ingest tests and the fleet benchmark run.
TEST_PACKAGES+=(postgresql)
