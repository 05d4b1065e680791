# mockidp: an offline stand-in for Microsoft Entra ID.
#
#   docker build -t mockidp .
#   docker run --rm -p 8443:8443 -p 8444:8444 -v mockidp-data:/data mockidp   # 8444: the APIM gateway
#   curl -k https://localhost:8443/_mockidp/ca.pem -o mockidp-ca.pem   # then trust this CA
#
# Settings are MOCKIDP_* environment variables (see `mockidp serve --help`). Prefer them over flags
# on the command line: the HEALTHCHECK (`mockidp health`) reads the same variables.

# ---- build: install the project and its dependencies into /install (copied to /usr/local below)
FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY . .
RUN pip install --no-cache-dir --prefix=/install .

# ---- runtime
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MOCKIDP_SEED=/seed \
    MOCKIDP_DATA_DIR=/data \
    MOCKIDP_HOST=0.0.0.0 \
    MOCKIDP_PORT=8443

COPY --from=build /install /usr/local
# The demo seed keeps its layout: demo.yaml refers to certs/testClient.crt relative to itself.
COPY seed/ /seed/

# Non-root user with a fixed numeric uid (Kubernetes runAsNonRoot can check it). /data holds the CA,
# the signing key and the SQLite database: owned by that user, and by group 0 so that platforms
# running an arbitrary uid in group 0 (OpenShift) can write it too. Check the seed at build time.
RUN useradd --uid 10001 --user-group --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin mockidp \
 && mkdir -p /data \
 && chown 10001:0 /data \
 && chmod 0770 /data \
 && mockidp seed check /seed

VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8443 8444

HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["mockidp", "health"]

CMD ["mockidp", "serve"]
