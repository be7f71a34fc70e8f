FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ESTATE_VAR_DIR=/tmp/estate
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# Statics are collected at build time and served by whitenoise; the key here is for the build only.
RUN DEBUG=false SECRET_KEY=build-only ALLOWED_HOSTS=build python manage.py collectstatic --no-input -v0
RUN useradd --system --uid 1000 estate
USER estate
EXPOSE 8000
CMD ["gunicorn", "estate.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
