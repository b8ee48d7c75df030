FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# ffmpeg/ffprobe: the worker turns recordings into archives and grabs thumbnails.
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml ./
RUN pip install --no-cache-dir .
COPY . .
# The admin's static files, served by the app itself (WhiteNoise) from STATIC_ROOT.
# collectstatic imports the settings only: no secrets, database or Redis needed.
RUN python manage.py collectstatic --noinput -v 0
EXPOSE 8000
# uvicorn (uvloop, httptools, wsproto) with the flags of scripts/asgi_server.py. Daphne
# is the supported alternative (ASGI_SERVER=daphne for `make run`); for it, run
#   python -m daphne -b 0.0.0.0 -p 8000 --websocket-max-message-size 65536
#   --websocket-max-frame-size 65536 config.asgi:application
CMD ["python", "-m", "uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--loop", "uvloop", "--http", "httptools", "--ws", "wsproto", "--ws-max-size", "65536", "--lifespan", "off", "--no-access-log", "--no-proxy-headers", "--log-level", "warning", "--timeout-graceful-shutdown", "5"]
