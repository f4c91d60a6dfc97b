#!/bin/sh
# harrier-sensor postrm. remove and upgrade keep the spool, the cached
# central ruleset and the configuration; purge (deb) deletes them.
set -e
if [ "$1" = purge ]; then
	rm -rf /var/lib/harrier/sensor /var/log/harrier
	rmdir /etc/harrier/rules.d /etc/harrier /var/lib/harrier 2>/dev/null || true
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
