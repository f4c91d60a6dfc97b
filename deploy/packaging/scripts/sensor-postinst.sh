#!/bin/sh
# harrier-sensor postinst (deb: configure [OLD]; rpm: $1 = 1 install, 2 upgrade).
set -e
mkdir -p /var/lib/harrier/sensor /var/log/harrier
chmod 0750 /var/lib/harrier/sensor /var/log/harrier
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	# Upgrades restart a running sensor on the new binary; a first install
	# starts nothing: edit /etc/harrier/sensor.yaml, then enable it.
	if { [ "$1" = configure ] && [ -n "$2" ]; } || [ "$1" = 2 ]; then
		systemctl try-restart harrier-sensor.service >/dev/null 2>&1 || true
	fi
fi
exit 0
