# Build the dashboard, then the hub with the dashboard embedded.
FROM node:20-bookworm AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=web /src/web/static/app ./web/static/app
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /hub ./cmd/hub

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /hub /hub
# In a container the hub listens on all interfaces; use API keys
# (hub keys create) and point it at a NATS cluster with STREAMHUB_NATS_URL.
ENV STREAMHUB_LISTEN=0.0.0.0:8080 STREAMHUB_DATA_DIR=/data
EXPOSE 8080
VOLUME /data
ENTRYPOINT ["/hub"]
CMD ["serve"]
