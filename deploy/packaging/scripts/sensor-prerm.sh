#!/bin/sh
# harrier-sensor prerm (deb: remove|upgrade; rpm: $1 = 0 erase, 1 upgrade).
set -e
if [ "$1" = remove ] || [ "$1" = 0 ]; then
	if [ -d /run/systemd/system ]; then
		systemctl disable --now harrier-sensor.service >/dev/null 2>&1 || true
	fi
fi
exit 0
