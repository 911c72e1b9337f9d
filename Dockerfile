# CHS's production image: the runtime dependencies only (pinned by constraints.txt), static
# files collected at build time, a non-root user. Every container runs bin/release (checks
# the environment, applies migrations unless MIGRATE=0) and then its process from the
# Procfile: `bin/proc web` by default, or recompute, playbooks, imports, notifications, beat.
# No secret is baked in: DATABASE_URL, CELERY_BROKER_URL and SECRET_KEY come at run time.
#   docker build -t chs .
#   docker run --env-file chs.env -p 8000:8000 chs                 # the web
#   docker run --env-file chs.env -e MIGRATE=0 chs bin/proc beat   # beat
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY pyproject.toml constraints.txt ./
# The runtime dependencies from pyproject.toml at the versions constraints.txt pins (not the
# project itself: its code is copied beside manage.py in the final stage).
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" >requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install -c constraints.txt -r requirements.txt

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=chs_site.settings \
    DEBUG=0 \
    HOST=0.0.0.0 \
    PORT=8000 \
    COLLECTSTATIC=0
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin chs
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY . .
# Static files for WhiteNoise, hashed and compressed once here (the key only lets settings
# load for this command; it is not kept). Uploads go to var/media (a volume shared by the
# web and the workers, or S3-compatible storage).
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p var/media \
    && chown chs:chs var/media
USER chs
EXPOSE 8000
ENTRYPOINT ["bin/release"]
CMD ["bin/proc", "web"]
