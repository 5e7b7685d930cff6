# Image for `rowcast serve` and `rowcast scheduler`, used by docker-compose.yml.
FROM python:3.12-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cdc cdc
COPY web web
COPY scheduler scheduler
COPY rowcast rowcast
COPY sql sql
COPY mysql-conf mysql-conf
RUN pip install --no-cache-dir -e . && useradd --system rowcast
USER rowcast
EXPOSE 8000
CMD ["rowcast", "serve"]
