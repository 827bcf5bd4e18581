#!/bin/sh
# Start the agentgym PostgreSQL server: seed $PGDATA (often a fresh tmpfs) from the image's
# cluster, set the superuser's password while nothing listens yet, then become the server.
set -eu
: "${AGENTGYM_PG_PASSWORD:?set AGENTGYM_PG_PASSWORD (hex) for the postgres superuser}"
case "$AGENTGYM_PG_PASSWORD" in *[!0-9a-fA-F]*) echo "AGENTGYM_PG_PASSWORD must be hex" >&2; exit 2;; esac
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    chmod 700 "$PGDATA"
    cp -a /var/lib/postgresql/seed/. "$PGDATA/"
fi
echo "ALTER ROLE postgres PASSWORD '$AGENTGYM_PG_PASSWORD'" | postgres --single -D "$PGDATA" -j postgres >/dev/null
exec postgres -D "$PGDATA" "$@"
