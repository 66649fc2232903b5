#!/bin/sh
# Container entrypoint: certificate first, daemons second.
# `acme provision` reads docker-mailserver's variables (SSL_TYPE, SSL_DOMAIN, OVERRIDE_HOSTNAME,
# SSL_CERT_PATH, SSL_KEY_PATH, SSL_ALT_*, TLS_LEVEL). With SSL_TYPE=letsencrypt and no certificate
# yet, --issue-if-missing obtains one on port 80 before Postfix and Dovecot bind their ports.
set -eu

acme provision --issue-if-missing \
    ${ACME_EMAIL:+--email "$ACME_EMAIL"} --agree-tos

postfix start
dovecot

# Installs a renewed certificate (from certbot, or later `acme renew`, in another container sharing
# /etc/letsencrypt) without a deploy hook: checks every 5 minutes, reloads only on change.
exec acme provision --watch --interval 300 --quiet
