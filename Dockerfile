# LycheeMem server image: `docker build -t lycheemem .` then `docker run -p 127.0.0.1:8000:8000 lycheemem`
# (or `docker compose up`, see docker-compose.yml). Serves offline: the wordllama embedder ships
# inside its wheel and the /docs assets inside fastapi-offline; nothing is downloaded at run time.

# --- stage 1: the web demo (served at /demo) ---------------------------------------------------
FROM node:20-slim AS web-demo
WORKDIR /build/web-demo
COPY web-demo/package.json web-demo/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web-demo/ ./
RUN npm run build

# --- stage 2: the Python runtime ---------------------------------------------------------------
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1
WORKDIR /app
COPY pyproject.toml README.md main.py ./
COPY src ./src
# Install, then prove at build time that the bundled embedder loads with downloads disabled.
RUN pip install . \
    && python -c "import pathlib, wordllama; wordllama.WordLlama.load(cache_dir=pathlib.Path(wordllama.__file__).parent, disable_download=True)"
COPY --from=web-demo /build/web-demo/dist ./web-demo/dist

# Runs as an unprivileged user; everything it writes lives in the /data volume.
RUN useradd --system --uid 10001 --no-create-home --home-dir /app lycheemem \
    && mkdir -p /data && chown lycheemem:lycheemem /data
USER lycheemem
VOLUME ["/data"]
ENV LYCHEEMEM_HOST=0.0.0.0 \
    LYCHEEMEM_PORT=8000 \
    LYCHEEMEM_DATA_DIR=/data \
    LYCHEEMEM_DEMO_DIR=/app/web-demo/dist
EXPOSE 8000
# /ready answers 200 once SQLite, LanceDB and the embedder are open (503 before).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/ready' % os.environ.get('LYCHEEMEM_PORT', '8000'), timeout=4)"
CMD ["python", "main.py"]
