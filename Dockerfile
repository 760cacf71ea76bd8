# StreamHub's image: the hub with the dashboard embedded, on distroless, as
# the nonroot user, with production defaults: authentication on (create keys
# with `docker exec CONTAINER /hub keys create --nats-url
# nats://127.0.0.1:4222 …`, see docs/operations.md), no demo feeds,
# listening on 0.0.0.0:8080. Build args VERSION and COMMIT label the build
# (hub version, streamhub_build_info):
#
#	docker build --build-arg VERSION=$(git describe --tags --always) --build-arg COMMIT=$(git rev-parse HEAD) -t streamhub .

# The dashboard: the web package needs Node.js 20.19 or newer.
FROM node:22-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# The hub, with the dashboard built above embedded.
FROM golang:1.26-bookworm AS build
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=web /src/web/static/app ./web/static/app
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /hub ./cmd/hub
# distroless has no shell to make the data directory there: make it here,
# owned by the nonroot user (65532) the hub runs as.
RUN mkdir -p /out/data && chown 65532:65532 /out/data && chmod 0750 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /hub /hub
# The JetStream store, the token signing secret and the keys live here; a
# volume mounted on /data starts with this directory's owner and mode.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# Production defaults; override with -e STREAMHUB_… (see hub serve -h).
ENV STREAMHUB_LISTEN=0.0.0.0:8080 \
    STREAMHUB_DATA_DIR=/data \
    STREAMHUB_DEMO=false
EXPOSE 8080
VOLUME /data
# hub health GETs /readyz on the address hub serve listens on
# (STREAMHUB_LISTEN) and exits 0 or 1: no shell or curl needed.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/hub", "health"]
ENTRYPOINT ["/hub"]
CMD ["serve"]
