# syntax=docker/dockerfile:1
# Multi-stage: dependencies in their own layer (rebuilt only when requirements.lock changes),
# then the code; catalogs compiled at build; a slim non-root runtime.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN python -m venv /venv
# Dependency layer: the runtime dependencies pinned and hashed in requirements.lock (written by
# pip-compile from pyproject.toml's ranges; see README, "Dependencies"), without the code.
COPY requirements.lock ./
RUN /venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN /venv/bin/pip install --no-deps .
COPY content ./content
COPY locales ./locales
# The bot compiles catalogs from the .po files at every start too; compiling here makes the
# image's .mo files match, so the read-only image never needs to write them.
RUN /venv/bin/pybabel compile -d locales -D messages --statistics

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 bot
COPY --from=build /venv /venv
COPY --from=build --chown=root:root /app/content /app/content
COPY --from=build --chown=root:root /app/locales /app/locales
WORKDIR /app
RUN mkdir -p /app/data && chown bot:bot /app/data
ENV PATH="/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    CONTENT_DIR=/app/content \
    LOCALES_DIR=/app/locales \
    DATABASE_URL=sqlite:////app/data/bot.db
USER bot
VOLUME ["/app/data"]
CMD ["interventional-bot", "run"]
