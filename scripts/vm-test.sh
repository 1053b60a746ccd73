#!/usr/bin/env bash
# Run the kernel_sctp tests inside the VM of shared/tools/vm (Debian 12, kernel with SCTP).
#
#   make vm-test            (or: bash scripts/vm-test.sh [extra pytest arguments])
#
# 1. builds the VM image once (shared/tools/vm/build-image.sh, about 2-4 min, cached);
# 2. builds wheels on the host: rserpool itself (without usrsctp, which the guest lacks) and
#    its dependencies, pysctp (needs libsctp-dev) and the test tools (pytest, pytest-timeout,
#    hypothesis), and
#    unpacks them into build/vm-site/ (rebuilt only when the sources changed). Host and guest
#    are both Debian 12 with CPython 3.11, so the extensions load in the guest, which needs
#    no network and no pip (pip under emulation took minutes);
# 3. boots the VM (instance $RSPVM_ID, default 4) with this checkout shared at the same path
#    and runs pytest -m kernel_sctp there with PYTHONPATH=build/vm-site, on the test files
#    that have such tests;
# 4. runs the host-side interop test (usrsctp on the host <-> kernel SCTP in the VM,
#    pytest -m vm) while the VM is up; then stops the VM unless it was already running.
# Exit status: 0 when both pytest runs pass. Timings are printed at the end.
# VM_TESTS="file ..." runs only those test files in the guest; VM_HOST_INTEROP=0 skips step 4
# (make vm-interop: the RSPLIB interop tests alone). VM_RUN="command" runs that command in
# the guest instead of pytest, from /, with the packages on PYTHONPATH (make vm-bench).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${RSERPOOL_SHARED:-$ROOT/../shared}
VM=$SHARED/tools/vm
PY=$ROOT/.venv/bin/python
WHEELS=$ROOT/build/vm-wheels
SITE=$ROOT/build/vm-site  # what the guest imports (the path is the same in the guest)
export RSPVM_ID=${RSPVM_ID:-4}
T0=$SECONDS
step() { echo "vm-test: [$((SECONDS - T0))s] $*"; }

[ -f "$VM/run-vm.sh" ] || { echo "vm-test: no VM tools at $VM (set RSERPOOL_SHARED)" >&2; exit 2; }
[ -x "$PY" ] || { echo "vm-test: run 'make setup' first" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "vm-test: the VM tools need root" >&2; exit 2; }

step "VM image"
bash "$VM/build-image.sh"
T_IMAGE=$SECONDS

step "packages for the guest -> $SITE"
stamp=$(cd "$ROOT" && git ls-files -co --exclude-standard -- rserpool meson.build meson.options \
        pyproject.toml scripts/vm-test.sh | sort | xargs sha256sum | sha256sum | cut -c1-16)
if [ "$(cat "$SITE/.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "vm-test: sources unchanged since the last build"
else
if ! dpkg-query -W -f='${Status}' libsctp-dev 2>/dev/null | grep -q 'install ok installed'; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libsctp-dev \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y -qq --no-install-recommends libsctp-dev; }
fi
rm -rf "$WHEELS"
mkdir -p "$WHEELS"
pip_quiet() { "$PY" -m pip "$@" 2>&1 | grep -v '^WARNING: Location' || true; }
pip_quiet wheel -q --no-deps --no-build-isolation -w "$WHEELS" \
    -Csetup-args=-Dusrsctp=disabled "$ROOT"
pip_quiet wheel -q --no-deps -w "$WHEELS" 'pysctp>=0.7'
pip_quiet download -q --only-binary :all: -d "$WHEELS" 'pytest>=8' 'pytest-timeout>=2' 'hypothesis>=6.90'
# rserpool's own dependencies (the daemon imports prometheus_client, rich, ...)
pip_quiet download -q --only-binary :all: -d "$WHEELS" "$(ls "$WHEELS"/rserpool-*.whl)"
ls "$WHEELS"/rserpool-*.whl "$WHEELS"/pysctp-*.whl >/dev/null
rm -rf "$SITE"
pip_quiet install -q --no-deps --no-index --target "$SITE" "$WHEELS"/*.whl
echo "$stamp" > "$SITE/.stamp"
fi
T_WHEELS=$SECONDS

status=$(bash "$VM/run-vm.sh" status --id "$RSPVM_ID" 2>&1 || true)
started=0
if grep -q ': running' <<<"$status"; then
    grep -q " $ROOT $ROOT " <<<"$status" \
        || { echo "vm-test: rspvm$RSPVM_ID runs without this checkout shared; stop it or set RSPVM_ID" >&2; exit 2; }
    step "reusing running VM rspvm$RSPVM_ID"
else
    step "booting VM rspvm$RSPVM_ID (software emulation: slow)"
    bash "$VM/run-vm.sh" start --id "$RSPVM_ID" --share "$ROOT"
    started=1
fi
stop_vm() { [ "$started" = 0 ] || bash "$VM/run-vm.sh" stop --id "$RSPVM_ID" >/dev/null 2>&1 || true; }
trap stop_vm EXIT
T_BOOT=$SECONDS

if [ -n "${VM_TESTS:-}" ]; then
    read -r -a FILES <<<"$VM_TESTS"
else
    mapfile -t FILES < <(cd "$ROOT" && grep -rl --include='test_*.py' 'mark.kernel_sctp' tests | sort)
fi
[ ${#FILES[@]} -gt 0 ] || { echo "vm-test: no kernel_sctp tests found" >&2; exit 2; }
if [ -n "${VM_RUN:-}" ]; then
    step "running in the guest: $VM_RUN"
    GUEST_SCRIPT="cd / && PYTHONPATH=$SITE PYTHONDONTWRITEBYTECODE=1 $VM_RUN"
else
    step "running pytest -m kernel_sctp ${FILES[*]} in the guest"
    # -P: the checkout's own rserpool/ (sources without the built extensions) must not shadow
    # the built package in $SITE.
    GUEST_SCRIPT="cd $ROOT && PYTHONPATH=$SITE PYTHONDONTWRITEBYTECODE=1 \\
python3 -P -m pytest -p no:cacheprovider -rsP -m kernel_sctp ${FILES[*]} $*"
fi
set +e
bash "$VM/run-vm.sh" exec --id "$RSPVM_ID" "$GUEST_SCRIPT"
rc=$?
T_TESTS=$SECONDS
rc_host=0
if [ "${VM_HOST_INTEROP:-1}" != 0 ]; then
    step "host usrsctp <-> guest kernel SCTP (pytest -m vm, on the host)"
    (cd "$ROOT" && "$PY" -m pytest -p no:cacheprovider -rsP -m vm tests/transport/test_vm_interop.py)
    rc_host=$?
fi
[ "$rc" != 0 ] || rc=$rc_host
set -e
T_INTEROP=$SECONDS
stop_vm
trap - EXIT
echo "vm-test: image $((T_IMAGE - T0))s, wheels $((T_WHEELS - T_IMAGE))s," \
     "boot $((T_BOOT - T_WHEELS))s, guest tests $((T_TESTS - T_BOOT))s," \
     "interop $((T_INTEROP - T_TESTS))s, stop $((SECONDS - T_INTEROP))s," \
     "total $((SECONDS - T0))s; exit status $rc"
exit "$rc"
