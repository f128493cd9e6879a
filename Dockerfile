# syntax=docker/dockerfile:1
# The operator image; `lgcron invoke` Pods of the cronJob backend run it too.
# tests/packaging/test_image_install_path.py checks this file and replays its install path.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
# HOME=/tmp: the root filesystem is read-only in the Deployment and /tmp is its only writable mount.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The passwd entry matters: kopf names its peer after getpass.getuser(), which raises for an unknown UID.
RUN groupadd --gid 10001 lgcron \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin lgcron
# Only the built wheel (and its dependencies from PyPI) goes into the venv: no sources, no build tools.
# The venv's own pip and setuptools leave in the same layer: the Pod never imports them (24 MB).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir /wheels/*.whl \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
    && lgcron --help >/dev/null
USER 10001:10001
# 8080: kopf's liveness endpoint (/healthz); 9090: metrics.
EXPOSE 8080 9090
ENTRYPOINT ["lgcron"]
CMD ["run", "--all-namespaces", "--liveness", "http://0.0.0.0:8080/healthz"]
