#!/usr/bin/env bash
# Install what rserpool needs on a Debian machine (as root), create .venv/ and build into it.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

PYTHON=${PYTHON:-python3}
APT_PACKAGES=(build-essential pkg-config libusrsctp-dev tshark iproute2 python3-dev python3-venv)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
# A Python outside Debian's (pyenv, ...) brings its own venv and headers.
if [ "$(command -v "$PYTHON")" != /usr/bin/python3 ]; then
  keep=(); for pkg in "${missing[@]}"; do [[ $pkg == python3-* ]] || keep+=("$pkg"); done
  missing=("${keep[@]+"${keep[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.rserpool-deps
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q meson-python meson ninja 'cython>=3.0'
  .venv/bin/python -m pip install -q -e '.[test]' --no-build-isolation
  echo "$want" > "$stamp"
fi
# The editable install rebuilds changed Cython on import; force it once here so errors show now.
.venv/bin/python -c 'import rserpool, rserpool._build_config as c; print(f"setup: rserpool {rserpool.__version__} built (usrsctp: {c.HAVE_USRSCTP})")'
