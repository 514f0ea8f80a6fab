#!/usr/bin/env bash
# Installs the Debian font packages the generator draws with (skipped when present).
set -euo pipefail
installed=$(fc-list 2>/dev/null || true)
present() { grep -q "$1" <<<"$installed"; }
# the optional faces are asked for once per user: where apt has none, the stamp says it tried
tried="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/captcha-optional-fonts-tried"
if present "uming.ttc" && present "NotoSerifCJK" && present "DejaVuSans-Bold"; then
  if [ -f "$tried" ] || { present "Humor-Sans" && present "ComicNeue-Bold" && present "LeckerliOne" && present "ReggaeOne"; }; then
    exit 0
  fi
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q fonts-noto-cjk fonts-arphic-uming fonts-arphic-ukai fonts-arphic-gbsn00lp \
  fonts-arphic-gkai00mp fonts-wqy-microhei fonts-wqy-zenhei fonts-dejavu fonts-liberation fonts-freefont-ttf \
  fonts-urw-base35 fontconfig >/dev/null
# the two comic Latin faces: the generator draws without them (and says so here) where missing
$SUDO apt-get install -y -q fonts-comic-neue fonts-humor-sans >/dev/null \
  || echo "warning: fonts-comic-neue / fonts-humor-sans not installed; the generator draws without the comic faces" >&2
# the faces drawn in training only (fonts.CURLED_LATIN_FACES): a curled C, a heavy round face
$SUDO apt-get install -y -q fonts-leckerli-one fonts-reggae >/dev/null \
  || echo "warning: fonts-leckerli-one / fonts-reggae not installed; training draws without the curled C" >&2
{ mkdir -p "$(dirname "$tried")" && touch "$tried"; } 2>/dev/null || true
