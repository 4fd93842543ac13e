FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-cache-dir ".[postgres]" && useradd --system --uid 10001 b2bpay
USER b2bpay
ENTRYPOINT ["b2bpay"]
