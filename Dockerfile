# syntax=docker/dockerfile:1
# Build stage: build the wheel (it carries the migrations, mappings and plans) and
# install it into a virtual environment.
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
RUN pip install --no-cache-dir --upgrade pip \
    && pip wheel --no-cache-dir --no-deps -w /tmp/dist . \
    && pip install --no-cache-dir /tmp/dist/revflow-*.whl

# Runtime stage: the venv and a non-root user.  The shipped mappings are used unless
# a mappings/ folder is mounted at /srv/revflow/mappings or REVFLOW_MAPPINGS_DIR is set.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 revflow
COPY --from=build /opt/revflow /opt/revflow
WORKDIR /srv/revflow
ENV PATH=/opt/revflow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    REVFLOW_API_HOST=0.0.0.0 \
    REVFLOW_DATABASE_URL=sqlite+aiosqlite:////srv/revflow/data/revflow.sqlite
RUN mkdir -p /srv/revflow/data && chown revflow:revflow /srv/revflow/data
USER revflow
EXPOSE 8080
# readiness, not liveness: "unhealthy" while the database is away or a loop is down or
# stuck, which is what `docker ps` and compose's service_healthy should show (docs/supervisor.md)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('REVFLOW_API_PORT', '8080'), timeout=4)"
ENTRYPOINT ["revflow"]
CMD ["run"]
