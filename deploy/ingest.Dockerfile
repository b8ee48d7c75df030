# The ingest server of docker-compose.yml: Debian's nginx with libnginx-mod-rtmp. Its
# config is rendered at start from the environment by deploy/ingest_conf.py (the same
# renderer `make run` and the tests use; standard-library Python only).
# Build context: the repository root (docker-compose.yml sets it).
# HLS_DIR and INGEST_RECORD_DIR are volumes shared with the app and worker, at the same
# paths as their settings (docker-compose.yml): the worker reads both (thumbnails and
# archives), and on_record_done only accepts paths inside the app's INGEST_RECORD_DIR.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx libnginx-mod-rtmp python3-minimal \
    && rm -rf /var/lib/apt/lists/*
COPY deploy/ingest_conf.py deploy/nginx-rtmp.conf /opt/ingest/
EXPOSE 1935 8080
CMD ["python3", "/opt/ingest/ingest_conf.py", "--out", "/etc/nginx/nginx-rtmp.conf", "--exec"]
