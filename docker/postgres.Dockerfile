# PostgreSQL 15 for the stage: a cluster made at build time (so a container starts in a second),
# with the settings of the local stage (harness/stage/postgres.py): fsync and synchronous commit
# on, trust authentication (the network is the stage's own bridge), and the SUT's database.
# Few instructions: with the vfs storage driver each one copies the whole file system.
ARG BASE=orderquake/base:bookworm
FROM ${BASE}
USER postgres
RUN data=/var/lib/postgresql/data \
 && initdb --username=postgres --auth=trust --encoding=UTF8 --no-sync "$data" >/dev/null \
 && printf "listen_addresses = '*'\nmax_connections = 200\nshared_buffers = 64MB\nfsync = on\nsynchronous_commit = on\nunix_socket_directories = '/tmp'\nlog_min_messages = warning\njit = off\n" >> "$data/postgresql.conf" \
 && echo "host all all all trust" >> "$data/pg_hba.conf" \
 && echo "CREATE DATABASE sut" | postgres --single -D "$data" postgres >/dev/null
# 'docker stop' sends SIGTERM (a smart shutdown); the stage's faults send SIGQUIT (pg_ctl's
# immediate mode) and SIGKILL themselves.
CMD ["postgres", "-D", "/var/lib/postgresql/data"]
