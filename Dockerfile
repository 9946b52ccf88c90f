# syntax=docker/dockerfile:1
# Build stage: build the wheel (it carries the migrations, mappings, plans and the
# example alert rules) and install it into a virtual environment.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/revflow
ENV PATH=/opt/revflow/bin:$PATH
COPY pyproject.toml setup.py README.md ./
COPY app ./app
COPY connectors ./connectors
COPY migrations ./migrations
COPY mappings ./mappings
COPY plans ./plans
COPY alerts ./alerts
RUN pip install --no-cache-dir --upgrade pip \
    && pip wheel --no-cache-dir --no-deps -w /tmp/dist . \
    && pip install --no-cache-dir /tmp/dist/revflow-*.whl

# Runtime stage: the venv and a non-root user.  The shipped mappings are used unless
# a mappings/ folder is mounted at /srv/revflow/mappings or REVFLOW_MAPPINGS_DIR is set.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 revflow
COPY --from=build /opt/revflow /opt/revflow
WORKDIR /srv/revflow
# The API listens on 0.0.0.0 here, on purpose: the container's loopback cannot be
# reached through a published port.  Outside the image the default is 127.0.0.1.
# Publish it on the host's loopback (docker run -p 127.0.0.1:8080:8080) behind a TLS
# proxy (REVFLOW_HTTP__TRUSTED_PROXIES), or set REVFLOW_HTTP__TLS_CERT_FILE/_KEY_FILE.
ENV PATH=/opt/revflow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    REVFLOW_API_HOST=0.0.0.0 \
    REVFLOW_DATABASE_URL=sqlite+aiosqlite:////srv/revflow/data/revflow.sqlite
RUN mkdir -p /srv/revflow/data && chown revflow:revflow /srv/revflow/data
USER revflow
EXPOSE 8080
# readiness, not liveness: "unhealthy" while the database is away or a loop is down or
# stuck, which is what `docker ps` and compose's service_healthy should show (docs/supervisor.md)
# (over HTTPS when Revflow terminates TLS; its certificate names the public host, not
# 127.0.0.1, so this local probe does not check it)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD python -c "import os,ssl,urllib.request; tls=bool(os.environ.get('REVFLOW_HTTP__TLS_CERT_FILE')); urllib.request.urlopen('%s://127.0.0.1:%s/readyz' % ('https' if tls else 'http', os.environ.get('REVFLOW_API_PORT', '8080')), timeout=4, context=ssl._create_unverified_context() if tls else None)"
ENTRYPOINT ["revflow"]
CMD ["run"]
