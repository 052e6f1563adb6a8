#!/usr/bin/env bash
# open3d 0.20 links against libusb-1.0.so.0. When the system lacks it, fetch Debian's
# libusb-1.0-0 package (no root needed) and place the library in <venv>/lib, which is on
# libOpen3D's RUNPATH ($ORIGIN/../../../).
set -euo pipefail
venv=${1:?usage: install_libusb.sh VENV}
if ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then exit 0; fi
if [ -e "$venv/lib/libusb-1.0.so.0" ]; then exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download libusb-1.0-0 >/dev/null)
dpkg -x "$work"/libusb-1.0-0_*.deb "$work/root"
lib=$(find "$work/root" -name 'libusb-1.0.so.0*' -type f | head -n 1)
cp "$lib" "$venv/lib/libusb-1.0.so.0"
echo "installed libusb-1.0.so.0 into $venv/lib"
