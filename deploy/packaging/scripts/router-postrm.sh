#!/bin/sh
# harrier-router postrm. remove and upgrade keep the journal, dead letters,
# rulesets and the configuration; purge (deb) deletes them. The system user
# stays (Debian's convention: files elsewhere may still carry its id).
set -e
if [ "$1" = purge ]; then
	rm -rf /var/lib/harrier/router
	rmdir /etc/harrier /var/lib/harrier 2>/dev/null || true
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
