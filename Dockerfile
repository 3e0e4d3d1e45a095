# Example image: the static strata binary on a distroless base (see deploy/compose.yaml).
#
#   docker build -t strata:dev --build-arg VERSION=$(git describe --always) .
#   docker run -p 9092:9092 -p 9644:9644 strata:dev
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/strata ./cmd/strata \
    && mkdir -p /out/var/lib/strata

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/strata /usr/local/bin/strata
COPY --from=build --chown=65532:65532 /out/var/lib/strata /var/lib/strata
COPY deploy/server.properties /etc/strata/server.properties
# Kafka protocol, admin listener (/metrics, /healthz, /readyz, console).
EXPOSE 9092 9644
VOLUME /var/lib/strata
ENTRYPOINT ["/usr/local/bin/strata"]
CMD ["serve", "--config", "/etc/strata/server.properties", "--listeners", "PLAINTEXT://0.0.0.0:9092", "--admin-addr", "0.0.0.0:9644"]
