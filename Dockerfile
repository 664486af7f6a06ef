# The tickwatch image, in the Prometheus style: the static binary that
# `make build` writes (CGO_ENABLED=0; simtown's SQLite is pure Go), the CA
# certificates and an unprivileged user, on scratch, so building it fetches no
# base image. `make image` stages these files in .build/image, the build
# context, and runs `podman build -f Dockerfile .build/image`.
FROM scratch
COPY etc/ /etc/
COPY tickwatch /bin/tickwatch
USER 65534:65534
EXPOSE 9917
# dedupe.state_dir (the Sentry outbox and violation state) defaults to
# ./data: give this directory a volume.
WORKDIR /var/lib/tickwatch
VOLUME ["/var/lib/tickwatch"]
ENTRYPOINT ["/bin/tickwatch"]
CMD ["run"]
