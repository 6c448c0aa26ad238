# The image Cloud Run runs (`serve`) and the ops workflow runs
# (`handle-dispatch`): one statically linked binary on distroless's static base,
# as the non-root user. Build: docker build --platform linux/amd64 -t workbench-bot .
#
# .ci/run builds the binary with exactly the command below and smoke-tests it in
# an empty root holding only what this image holds; the README gives the size.

# The exact compiler assets/link-order.txt was written for (its symbol names
# carry a hash of it): a patch release would leave the code's layout stale.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
ENV CARGO_TARGET=x86_64-unknown-linux-gnu \
    RUSTFLAGS="-C target-feature=+crt-static"

# Dependencies first, in a layer that changes only with Cargo.toml/Cargo.lock.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --target "$CARGO_TARGET" \
    && rm -rf src

COPY src src
COPY migrations migrations
# The chart's font (include_bytes!) and the linker's function order (build.rs).
COPY assets assets
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --target "$CARGO_TARGET" \
    && cp "target/$CARGO_TARGET/release/workbench-bot" /workbench-bot

# A static glibc resolves names through NSS: say to use /etc/hosts, then DNS.
RUN printf 'hosts: files dns\n' > /nsswitch.conf

# CA certificates (Slack, GitHub, Google over TLS), /etc/passwd with `nonroot`,
# and time zone data come with the base.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /nsswitch.conf /etc/nsswitch.conf
COPY --from=build /workbench-bot /usr/local/bin/workbench-bot
# distroless's `nonroot` user, by number so any host can check it is not root.
USER 65532:65532
# Cloud Run sets PORT; the bot then listens on 0.0.0.0:$PORT.
ENTRYPOINT ["/usr/local/bin/workbench-bot"]
CMD ["serve"]
