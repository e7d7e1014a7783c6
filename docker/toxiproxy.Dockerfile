# Toxiproxy v2.12.0 alone: a static binary (CGO_ENABLED=0) in an empty image.
# The build context holds toxiproxy-server (scripts/compose-setup.sh builds it with
# 'go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0') and toxiproxy.json.
FROM scratch
COPY toxiproxy-server /toxiproxy-server
COPY toxiproxy.json /toxiproxy.json
EXPOSE 8474 20000 20001 20002 20003 20009
ENTRYPOINT ["/toxiproxy-server"]
CMD ["-host", "0.0.0.0", "-port", "8474", "-config", "/toxiproxy.json"]
