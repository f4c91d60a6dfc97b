#!/bin/sh
# harrier-router postinst (deb: configure [OLD]; rpm: $1 = 1 install, 2 upgrade).
# The router runs as the system user harrier-router, created here.
set -e
if ! getent group harrier-router >/dev/null; then
	groupadd --system harrier-router
fi
if ! getent passwd harrier-router >/dev/null; then
	useradd --system --gid harrier-router --home-dir /var/lib/harrier/router --no-create-home \
		--shell /usr/sbin/nologin --comment "Harrier router" harrier-router
fi
mkdir -p /var/lib/harrier/router
chown harrier-router:harrier-router /var/lib/harrier/router
chmod 0750 /var/lib/harrier/router
# The configuration may hold tokens and passwords: readable by the router only.
chown root:harrier-router /etc/harrier/router.yaml
chmod 0640 /etc/harrier/router.yaml
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if { [ "$1" = configure ] && [ -n "$2" ]; } || [ "$1" = 2 ]; then
		systemctl try-restart harrier-router.service >/dev/null 2>&1 || true
	fi
fi
exit 0
