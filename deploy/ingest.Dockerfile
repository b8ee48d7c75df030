# The ingest server of docker-compose.yml: Debian's nginx with libnginx-mod-rtmp,
# configured by deploy/nginx-rtmp.conf. INGEST_SECRET replaces the placeholder at start.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx libnginx-mod-rtmp \
    && rm -rf /var/lib/apt/lists/*
COPY nginx-rtmp.conf /etc/nginx/nginx-rtmp.conf.template
EXPOSE 1935 8080
CMD ["sh", "-c", "mkdir -p /tmp/nginx-rtmp/hls && sed \"s/change-me-ingest-secret/${INGEST_SECRET}/g\" /etc/nginx/nginx-rtmp.conf.template > /etc/nginx/nginx-rtmp.conf && exec nginx -c /etc/nginx/nginx-rtmp.conf -g 'daemon off;'"]
