FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY revops ./revops
COPY leads ./leads
COPY sla ./sla
COPY metrics ./metrics
COPY content_library ./content_library
RUN pip install --no-cache-dir -e .
COPY . .
# collectstatic needs settings that load; the real values come from the environment at run time.
RUN DJANGO_DEBUG=1 DATABASE_URL=postgres://build/none REDIS_URL=redis://build:6379/0 \
    python manage.py collectstatic --no-input -v 0
EXPOSE 8000
CMD ["gunicorn", "revops.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
