#!/usr/bin/env bash
# Install the edgetl banknote reader on a Raspberry Pi (Raspberry Pi OS Bookworm or later, 64-bit).
#
#   sudo ./install.sh [MODEL.tflite] [PACKAGE]
#
# MODEL.tflite  an exported int8 model; its card (same name, .json) is copied with it.
#               Default: keep whatever is already in /opt/edgetl/models/.
# PACKAGE       what pip installs. Default: the edgetl checkout this script sits in (with the [pi]
#               extra). Or a wheel (./edgetl-0.1.0-py3-none-any.whl) or another checkout; [pi] is added
#               when you leave it out. (edgetl is not published on the package registry.)
#
# Versions: when the checkout has requirements/pi.txt, pip installs exactly the versions CI tested on
# arm64 (EDGETL_CONSTRAINTS=FILE picks another file, EDGETL_CONSTRAINTS= none).
# EDGETL_NO_SERVICE=1 installs everything but the systemd unit (containers, chroots, CI).
#
# What it does (safe to run again): apt packages (espeak-ng, alsa-utils, python3-venv; picamera2 and
# gpiozero when available), a system user 'edgetl' in the video/audio/gpio groups, a venv in
# /opt/edgetl/venv that can also see the system's picamera2, the model in /opt/edgetl/models/, and the
# systemd unit edgetl.service (enabled, so it starts at boot). It starts the service only when a model
# is in place.
set -euo pipefail

PREFIX=/opt/edgetl
SERVICE_USER=edgetl
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHECKOUT="$(cd "$HERE/../.." && pwd)"
MODEL="${1:-}"
PACKAGE="${2:-}"
NO_SERVICE="${EDGETL_NO_SERVICE:-}"
CONSTRAINTS="${EDGETL_CONSTRAINTS-$CHECKOUT/requirements/pi.txt}"

if [ -t 1 ]; then say() { printf '\033[1m%s\033[0m\n' "$*"; }; else say() { printf '%s\n' "$*"; }; fi
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_checkout() { [ -f "$1/pyproject.toml" ] && grep -q '^name = "edgetl"' "$1/pyproject.toml"; }

[ "$(id -u)" -eq 0 ] || die "run as root: sudo $0 $*"
[ -n "$NO_SERVICE" ] || command -v systemctl >/dev/null || die "systemd is required (EDGETL_NO_SERVICE=1 installs without the service)"
if [ -z "$PACKAGE" ]; then
  is_checkout "$CHECKOUT" || die "$HERE is not inside an edgetl checkout: give a wheel or checkout as PACKAGE (see the top of $0)"
  PACKAGE="$CHECKOUT"
fi
# a wheel or a folder without extras gets [pi]: without it pip would leave out the LiteRT interpreter
case "$PACKAGE" in *"["*) ;; *.whl|/*|./*|../*) PACKAGE="$PACKAGE[pi]" ;; esac
pip_constraints=()
if [ -n "$CONSTRAINTS" ] && [ -f "$CONSTRAINTS" ]; then pip_constraints=(-c "$CONSTRAINTS"); fi
if [ -n "$MODEL" ]; then
  [ -f "$MODEL" ] || die "model not found: $MODEL"
  [ -f "${MODEL%.tflite}.json" ] || die "model card not found: ${MODEL%.tflite}.json (export writes it next to the .tflite)"
fi

say "1/5 system packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip espeak-ng alsa-utils >/dev/null
# optional: the Pi camera module (picamera2 is only packaged for Raspberry Pi OS) and the repeat button
declare -A without=([python3-picamera2]="--camera picamera2 will not work (a USB camera, --camera 0, will)"
                    [python3-gpiozero]="the --gpio-pin repeat button will not work")
for pkg in python3-picamera2 python3-gpiozero; do
  if apt-cache show "$pkg" >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null || echo "note: could not install $pkg (continuing)"
  else
    echo "note: $pkg is not packaged here (Raspberry Pi OS's own repository has it): ${without[$pkg]}"
  fi
done

say "2/5 service user '$SERVICE_USER'"
if ! id "$SERVICE_USER" >/dev/null 2>&1; then
  useradd --system --home-dir "$PREFIX" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi
for group in video audio gpio render; do
  if getent group "$group" >/dev/null; then usermod -aG "$group" "$SERVICE_USER"; fi
done

say "3/5 virtual environment in $PREFIX/venv"
install -d -m 0755 "$PREFIX" "$PREFIX/models"
if [ ! -x "$PREFIX/venv/bin/python" ]; then
  # --system-site-packages: picamera2/libcamera and gpiozero come from apt, not pip
  python3 -m venv --system-site-packages "$PREFIX/venv"
fi
"$PREFIX/venv/bin/pip" install --quiet --upgrade pip
echo "installing $PACKAGE${pip_constraints:+ with the versions in ${pip_constraints[1]}}"
"$PREFIX/venv/bin/pip" install --quiet --upgrade "${pip_constraints[@]}" "$PACKAGE"
"$PREFIX/venv/bin/python" - <<'PY'
import sys
import edgetl.runtime.runner  # noqa: F401
from edgetl.runtime.interpreter import runtime_module
print("runtime:", runtime_module()[1])
sys.exit(1 if "tensorflow" in sys.modules else 0)
PY
[ -f "$HERE/README.md" ] && install -m 0644 "$HERE/README.md" "$PREFIX/README.md"

say "4/5 model"
if [ -n "$MODEL" ]; then
  install -m 0644 "$MODEL" "$PREFIX/models/notes_int8.tflite"
  # the card names its model file; rewrite that field for the installed name
  "$PREFIX/venv/bin/python" - "${MODEL%.tflite}.json" "$PREFIX/models/notes_int8.json" <<'PY'
import json, sys
card = json.load(open(sys.argv[1], encoding="utf-8"))
card["model_file"] = "notes_int8.tflite"
json.dump(card, open(sys.argv[2], "w", encoding="utf-8"), indent=2, ensure_ascii=False)
PY
  # a phrases.json beside the model (other languages, custom wording) is used by `edgetl run`
  src_dir="$(dirname "$MODEL")"
  [ -f "$src_dir/phrases.json" ] && install -m 0644 "$src_dir/phrases.json" "$PREFIX/models/phrases.json"
fi
chown -R root:root "$PREFIX"

say "5/5 systemd unit"
if [ -n "$NO_SERVICE" ]; then
  say "installed without the service (EDGETL_NO_SERVICE): run $PREFIX/venv/bin/edgetl run --model $PREFIX/models/notes_int8.tflite"
  exit 0
fi
install -m 0644 "$HERE/edgetl.service" /etc/systemd/system/edgetl.service
systemctl daemon-reload
systemctl enable edgetl.service >/dev/null
if [ -f "$PREFIX/models/notes_int8.tflite" ]; then
  systemctl restart edgetl.service
  sleep 3
  systemctl --no-pager --lines=5 status edgetl.service || true
  say "installed: edgetl.service is running (logs: journalctl -u edgetl -f)"
else
  say "installed, but no model yet: sudo $0 path/to/notes_int8.tflite   (then it starts at once and at every boot)"
fi
