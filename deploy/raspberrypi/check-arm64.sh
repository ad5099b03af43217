#!/usr/bin/env bash
# Prove the Raspberry Pi path on arm64: install.sh and `edgetl run` in an emulated Debian bookworm arm64 root.
#
#   sudo deploy/raspberrypi/check-arm64.sh          (or: make pi-check)
#
# Raspberry Pi OS Bookworm is Debian bookworm (Python 3.11) for arm64. This script
#  1. builds (once, then reuses) a bookworm arm64 root with debootstrap, run through qemu-user-static;
#  2. builds a small int8 model and a synthetic clip on this machine with the checkout's .venv
#     (cached beside the root while the training code and recipe stay the same);
#  3. runs install.sh itself inside the root (without systemd, without Raspberry Pi's own repository)
#     on a fresh /opt/edgetl, with the checkout as it is now (uncommitted changes included);
#  4. asserts TensorFlow, tf-keras and h5py are absent and the installed versions are requirements/pi.txt's;
#  5. runs `edgetl run --source clip.mp4 --no-speech` there and here and compares the announcements
#     (compare_announcements.py: the confident ones must match in label and order).
# It exits 0 when the two agree, 1 when anything fails, and 0 with one "skipped" line when arm64
# emulation cannot be had (not root, no binfmt_misc, no qemu). Emulation is ~20x slower than a Pi and
# says nothing about a Pi's milliseconds, camera, speaker or GPIO.
#
# Needs: root, apt (it installs debootstrap, qemu-user-static, binfmt-support), the Debian mirror and the
# package registry; about 0.7 GB in the cache.
# Environment: EDGETL_ARM64_CACHE (default /var/cache/edgetl-arm64, or ~/.cache/edgetl-arm64 for others),
# EDGETL_ARM64_MIRROR (Debian mirror, default http://deb.debian.org/debian), EDGETL_HOST_VENV (.venv),
# EDGETL_ARM64_WEIGHTS (Keras no-top MobileNetV2 .h5 for the comparison model; default from ../shared).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SUITE=bookworm
MIRROR="${EDGETL_ARM64_MIRROR:-http://deb.debian.org/debian}"
HOST_VENV="${EDGETL_HOST_VENV:-$REPO/.venv}"
if [ "$(id -u)" -eq 0 ]; then DEFAULT_CACHE=/var/cache/edgetl-arm64; else DEFAULT_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/edgetl-arm64"; fi
CACHE="${EDGETL_ARM64_CACHE:-$DEFAULT_CACHE}"
ROOT="$CACHE/$SUITE-arm64"
# what the root holds besides minbase: install.sh's apt packages, so its apt step is a quick no-op
ROOT_PACKAGES=python3,python3-venv,python3-pip,ca-certificates,espeak-ng,alsa-utils
ROOT_KEY="$SUITE arm64 minbase $ROOT_PACKAGES"
# the comparison model: small, but it must have learned enough to announce several notes
WEIGHTS_FILE="${EDGETL_ARM64_WEIGHTS:-$REPO/../shared/weights/mobilenet_v2_1.0_224_imagenet_from_coral_int8ptq_no_top.h5}"
# a lower threshold than a product would use: more announcements give the comparison more to compare
# (compare_announcements.py explains how near-threshold ones are judged)
COMPARE_THRESHOLD=0.6
PI_HOME=/home/pi
STARTED=$SECONDS

say() { echo "pi-check: $*"; }
fail() { printf 'pi-check: FAILED: %s\n' "$*" >&2; exit 1; }
skip() { echo "pi-check: skipped: $* (nothing was checked)"; exit 0; }
elapsed() { echo "$((SECONDS - $1)) s"; }

# ------------------------------------------------------------------------------------ emulation

native_arm64() { [ "$(uname -m)" = aarch64 ]; }

need_debs() {
  local missing=() pkg
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || return 1
  say "installing ${missing[*]}"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Register qemu's aarch64 handler with binfmt_misc (with F: the interpreter works inside a chroot).
emulation() {
  command -v dpkg >/dev/null || skip "not a Debian-based host (debootstrap and qemu-user-static come from apt)"
  if native_arm64; then need_debs debootstrap || fail "could not install debootstrap"; return; fi
  need_debs debootstrap qemu-user-static binfmt-support || skip "arm64 emulation unavailable: could not install debootstrap, qemu-user-static, binfmt-support"
  local misc=/proc/sys/fs/binfmt_misc
  [ -e "$misc/register" ] || mount -t binfmt_misc binfmt_misc "$misc" 2>/dev/null || skip "arm64 emulation unavailable: binfmt_misc cannot be mounted here"
  [ -e "$misc/qemu-aarch64" ] || update-binfmts --import qemu-aarch64 >/dev/null 2>&1 || true
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  grep -q '^enabled' "$misc/qemu-aarch64" 2>/dev/null || skip "arm64 emulation unavailable: qemu-aarch64 is not registered with binfmt_misc"
  grep -q '^flags: .*F' "$misc/qemu-aarch64" || skip "arm64 emulation unavailable: qemu-aarch64 lacks the F flag (needed inside a chroot)"
}

# ------------------------------------------------------------------------------------ the root

build_root() {
  if [ -f "$ROOT/.edgetl-root" ] && [ "$(cat "$ROOT/.edgetl-root")" = "$ROOT_KEY" ]; then
    say "reusing the $SUITE arm64 root in $ROOT"
    return
  fi
  local t0=$SECONDS
  say "building a $SUITE arm64 root in $ROOT (once; a few minutes)"
  rm -rf "$ROOT" "$ROOT.tmp"
  debootstrap --arch=arm64 --variant=minbase --include="$ROOT_PACKAGES" "$SUITE" "$ROOT.tmp" "$MIRROR" \
    >"$CACHE/debootstrap.log" 2>&1 || fail "debootstrap failed (see $CACHE/debootstrap.log)"
  echo "$ROOT_KEY" >"$ROOT.tmp/.edgetl-root"
  mv "$ROOT.tmp" "$ROOT"
  say "root built in $(elapsed $t0)"
}

MOUNTS=()
unmount_all() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[$i]}" 2>/dev/null || true; done
  MOUNTS=()
}

# Mounts left by a run that was killed (a TERM skips no trap, a KILL skips all).
unmount_stale() {
  local mnt
  for mnt in $(awk -v root="$ROOT/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$mnt" || true; done
}

# /proc and /dev, the host's DNS and CA bundle so pip reaches the registry the way this machine does.
# Not /sys: with it, XNNPACK's CPU probe reads this x86 machine's /proc/cpuinfo as an ARM one and the
# emulated `edgetl run` crashes; without it the probe logs that it cannot read the CPU list (harmless)
# and falls back to the features qemu reports.
enter_root() {
  unmount_stale
  mount -t proc proc "$ROOT/proc" && MOUNTS+=("$ROOT/proc")
  mount --rbind /dev "$ROOT/dev" && MOUNTS+=("$ROOT/dev")
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/edgetl-host-ca.crt"; fi
  chroot "$ROOT" /bin/true || skip "arm64 emulation unavailable: an arm64 program does not start in the root"
}

# Run a command in the root with a clean environment (plus the host's proxy and index settings).
in_root() {
  local env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
             PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=120)
  [ -f "$ROOT/etc/edgetl-host-ca.crt" ] && env+=(PIP_CERT=/etc/edgetl-host-ca.crt)
  local var
  for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY PIP_INDEX_URL; do
    [ -n "${!var:-}" ] && env+=("$var=${!var}")
  done
  chroot "$ROOT" /usr/bin/env -i "${env[@]}" "$@"
}

# The checkout as it is now (tracked and new files, not ignored ones) at /home/pi/edgetl in the root.
copy_checkout() {
  rm -rf "$ROOT$PI_HOME/edgetl" && mkdir -p "$ROOT$PI_HOME/edgetl"
  (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
     | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$ROOT$PI_HOME/edgetl"
}

# ------------------------------------------------------------------------------------ model and clip

# A key over everything that shapes the model: the training code, the pinned versions and the recipe.
model_key() {
  (cd "$REPO" && cat requirements/dev.txt $(git ls-files edgetl/data edgetl/train edgetl/export edgetl/card.py | sort) \
     && echo "$1") | sha256sum | cut -c1-16
}

# A small int8 model, built with the host's .venv (TensorFlow lives only there).
build_model() {
  local weights=none alpha=0.35 size=96
  WEAK_MODEL=weak
  if [ -f "$WEIGHTS_FILE" ]; then weights="$WEIGHTS_FILE" alpha=1.0 size=128 WEAK_MODEL=; else
    say "note: $WEIGHTS_FILE is absent; a random-init model stays mostly silent, so there is little to compare"
  fi
  local recipe="synth 80/class ${size}px seed 1; train alpha $alpha features 30 epochs views 2 seed 3 weights $(basename "$weights"); int8 calib 100"
  MODEL_DIR="$CACHE/model-$(model_key "$recipe")"
  if [ -f "$MODEL_DIR/ok" ]; then say "reusing the comparison model in $MODEL_DIR"; return; fi
  local t0=$SECONDS work="$CACHE/model.tmp"
  say "building the comparison model on this machine ($recipe)"
  rm -rf "$work" && mkdir -p "$work"
  local edgetl="$HOST_VENV/bin/edgetl"
  export TF_CPP_MIN_LOG_LEVEL=2 EDGETL_PROGRESS=0
  "$edgetl" synth "$work/notes" --per-class 80 --size "$size" --seed 1 >/dev/null
  "$edgetl" train "$work/notes" --out "$work/run" --alpha "$alpha" --size "$size" --weights "$weights" \
    --strategy features --epochs 30 --views 2 --seed 3 --cache "$work/cache" >"$work/train.log" 2>&1 \
    || { tail -5 "$work/train.log"; fail "training the comparison model failed"; }
  "$edgetl" export "$work/run" --int8 --out "$work/models" --name notes --calibration-count 100 >"$work/export.log" 2>&1 \
    || { tail -5 "$work/export.log"; fail "exporting the comparison model failed"; }
  rm -rf "$work/notes" "$work/cache"
  touch "$work/ok"
  rm -rf "$MODEL_DIR" && mv "$work" "$MODEL_DIR"
  say "model built in $(elapsed $t0)"
}

# A 20 s synthetic clip of six notes at 320x240 and 15 fps: 300 frames, as emulation is slow.
build_clip() {
  "$HOST_VENV/bin/python" -c "from edgetl.data.synth import make_video
make_video('$CACHE/clip.mp4', seed=5, size=(320, 240), fps=15, seconds=20)"
}

# ------------------------------------------------------------------------------------ the checks

# Prefix each line with the seconds since $1: where an emulated install spends its time.
stamped() {
  local line
  while IFS= read -r line; do printf '  [%4ds] %s\n' "$((SECONDS - $1))" "$line"; done
}

# What pip installed: no TensorFlow family, and exactly the locked version of every locked package.
check_versions() {
  in_root /opt/edgetl/venv/bin/python - "$PI_HOME/edgetl/requirements/pi.txt" <<'PY'
import sys
import sysconfig
from importlib import metadata
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import canonicalize_name

def versions(path=None):
    dists = metadata.distributions() if path is None else metadata.distributions(path=path)
    return {canonicalize_name(d.metadata["Name"]): d.version for d in dists if d.metadata["Name"]}

installed = versions()  # the venv sees the system's packages too (picamera2 comes from apt on a Pi)
print("installed on arm64:", ", ".join(f"{n}=={v}" for n, v in sorted(versions([sysconfig.get_paths()["purelib"]]).items())))
problems = [f"{n} is installed" for n in ("tensorflow", "tensorflow-cpu", "tf-keras", "keras", "h5py") if n in installed]
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate():
        continue
    name, pinned = canonicalize_name(req.name), next(iter(req.specifier)).version
    if installed.get(name) != pinned:
        problems.append(f"{name} {installed.get(name, 'missing')} (requirements/pi.txt: {pinned})")
if problems:
    sys.exit("pi-check: FAILED: " + "; ".join(problems))
PY
}

# A Pi camera that is not there: one error line, a non-zero exit, no traceback.
check_picamera_message() {
  local out rc=0
  out="$(in_root /opt/edgetl/venv/bin/edgetl run --model /opt/edgetl/models/notes_int8.tflite \
          --source picamera2 --no-speech --max-frames 1 2>&1)" || rc=$?
  if [ "$rc" -eq 0 ] || grep -q Traceback <<<"$out" || ! grep -q picamera2 <<<"$out"; then
    printf '%s\n' "$out" | tail -5
    fail "--camera picamera2 without picamera2 should end in one clear message (exit $rc)"
  fi
  say "without picamera2: $(grep -m1 picamera2 <<<"$out")"
}

main() {
  [ "$(id -u)" -eq 0 ] || skip "needs root for debootstrap, chroot and mounts"
  native_arm64 || emulation
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9
  build_root
  [ -x "$HOST_VENV/bin/edgetl" ] || fail "$HOST_VENV/bin/edgetl is missing: run make install first"
  build_model
  build_clip
  trap unmount_all EXIT
  trap 'exit 130' INT TERM
  enter_root

  local t0=$SECONDS
  say "install.sh in the arm64 root (fresh /opt/edgetl; pip's download cache is kept)"
  rm -rf "$ROOT/opt/edgetl" "$ROOT$PI_HOME/models" "$ROOT$PI_HOME/clip.mp4" "$ROOT$PI_HOME/arm64.jsonl"
  copy_checkout
  mkdir -p "$ROOT$PI_HOME/models"
  cp "$MODEL_DIR/models/notes_int8.tflite" "$MODEL_DIR/models/notes_int8.json" "$ROOT$PI_HOME/models/"
  cp "$CACHE/clip.mp4" "$ROOT$PI_HOME/clip.mp4"
  in_root env EDGETL_NO_SERVICE=1 bash "$PI_HOME/edgetl/deploy/raspberrypi/install.sh" "$PI_HOME/models/notes_int8.tflite" \
    2>&1 | stamped $t0 || fail "install.sh failed in the arm64 root"
  local install_time; install_time="$(elapsed $t0)"
  say "installed in $install_time"
  check_versions

  t0=$SECONDS
  in_root /opt/edgetl/venv/bin/edgetl run --model /opt/edgetl/models/notes_int8.tflite --source "$PI_HOME/clip.mp4" \
    --no-speech --threshold "$COMPARE_THRESHOLD" --log "$PI_HOME/arm64.jsonl" >"$CACHE/arm64-run.txt" 2>&1 \
    || { tail -5 "$CACHE/arm64-run.txt"; fail "edgetl run failed in the arm64 root"; }
  local run_time; run_time="$(elapsed $t0)"
  check_picamera_message

  local host_log="$CACHE/host.jsonl"
  rm -f "$host_log"
  "$HOST_VENV/bin/edgetl" run --model "$MODEL_DIR/models/notes_int8.tflite" --source "$CACHE/clip.mp4" \
    --no-speech --threshold "$COMPARE_THRESHOLD" --log "$host_log" >"$CACHE/host-run.txt" 2>&1 \
    || { tail -5 "$CACHE/host-run.txt"; fail "edgetl run failed on this machine"; }

  python3 "$REPO/deploy/raspberrypi/compare_announcements.py" "$host_log" "$ROOT$PI_HOME/arm64.jsonl" \
    "$COMPARE_THRESHOLD" "$(uname -m)" "$WEAK_MODEL" || exit 1
  echo "  (emulated run: $run_time)"
  say "OK: install.sh and edgetl run work on $SUITE arm64 and announce what this machine does (total $(elapsed $STARTED))"
}

main "$@"
