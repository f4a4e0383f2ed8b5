# tests/users.sh - the studio's people for tests that run commands as them:
# group artists (alice, bob, wrangler) and admin group wranglers (wrangler).
# Source after lib.sh; needs root. as USER CMD... runs CMD as USER.
# (Under a lock: tests that run side by side would race to add them.)
test_users() {
	[ "$(id -u)" = 0 ] || return 1
	flock /run/lock/hotfarm-test-users sh -c '
	getent group artists >/dev/null || groupadd artists || exit 1
	getent group wranglers >/dev/null || groupadd wranglers || exit 1
	for u in alice bob wrangler; do
		id "$u" >/dev/null 2>&1 || useradd --no-create-home --shell /bin/sh -g artists "$u" || exit 1
	done
	usermod -a -G wranglers wrangler' || return 1
	# the test's own folder must be reachable for them
	chmod 755 "$T"
}
# as USER COMMAND...: COMMAND with USER's uid, group and supplementary
# groups, its HOME in $T, umask 022, the test's PATH and spool
as() {
	_u=$1; shift
	mkdir -p "$T/home/$_u" && chown "$_u" "$T/home/$_u"
	setpriv --reuid="$_u" --regid="$(id -g "$_u")" --init-groups -- \
		env HOME="$T/home/$_u" USER="$_u" LOGNAME="$_u" PATH="$PATH" HOTFARM_SPOOL="${SPOOL:-}" \
		sh -c 'umask 022; exec "$@"' sh "$@"
}
