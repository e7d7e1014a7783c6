# orderquake's Python parts (the mock provider, the reference service, Locust and the harness)
# in one image. The build context holds deps/ (a wheel of every dependency, made by 'pip wheel'
# in scripts/compose-setup.sh, so nothing is downloaded while the image builds) and src/ (the
# project's packages). With the vfs storage driver every layer and every container is a full
# copy of the file system, so the image is kept small (no PostgreSQL server, Perl, ICU or pip:
# the app does not use them), the instructions are few (each one is a copy too), and a change of
# the source rebuilds the last layer only. The compose file gives each service its command.
ARG BASE=orderquake/base:bookworm
FROM ${BASE}
COPY deps /tmp/deps
RUN python3 -m venv /opt/orderquake \
 && /opt/orderquake/bin/pip install --quiet --no-index --no-cache-dir --disable-pip-version-check /tmp/deps/*.whl \
 && echo /opt/orderquake/src > /opt/orderquake/lib/python3.11/site-packages/orderquake-src.pth \
 && rm -rf /tmp/deps /opt/orderquake/lib/python3.11/site-packages/pip* /opt/orderquake/lib/python3.11/site-packages/setuptools* \
      /usr/lib/postgresql /usr/share/postgresql /usr/share/postgresql-common /usr/lib/x86_64-linux-gnu/perl* \
      /usr/share/perl* /usr/bin/perl* /usr/lib/x86_64-linux-gnu/libicu* /usr/lib/x86_64-linux-gnu/libperl* \
 && mkdir -p /data /history && chown 65534:65534 /data /history
ENV PATH=/opt/orderquake/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PYTHONUNBUFFERED=1
USER 65534:65534
COPY src /opt/orderquake/src
