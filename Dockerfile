# A small image for Cloud Run or any container host, and for the GitHub Actions
# workflow that runs `workbench-bot handle-dispatch`.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
RUN cargo build --release --locked

FROM debian:bookworm-slim
# ca-certificates: rustls trusts the system roots for Slack, GitHub and Google.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 bot
COPY --from=build /src/target/release/workbench-bot /usr/local/bin/workbench-bot
USER bot
# Cloud Run sets PORT; the bot then listens on 0.0.0.0:$PORT.
ENTRYPOINT ["workbench-bot"]
CMD ["serve"]
