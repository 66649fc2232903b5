#!/bin/sh
# Deploy hook for a mail host that uses the lineage's files directly, e.g.
#   smtpd_tls_chain_files = /etc/letsencrypt/live/mail.example.com/privkey.pem,
#                           /etc/letsencrypt/live/mail.example.com/fullchain.pem
#   ssl_cert = </etc/letsencrypt/live/mail.example.com/fullchain.pem   (Dovecot)
# Install:  install -m 0755 deploy-hook-reload-mail.sh /etc/letsencrypt/renewal-hooks/deploy/reload-mail
# (executables there run after every renewal, by acme and by certbot), or save it for one lineage:
#   acme issue -d mail.example.com --deploy-hook /usr/local/lib/acme/reload-mail
# acme and certbot set RENEWED_LINEAGE (live/<name>) and RENEWED_DOMAINS (space-separated).
# A non-zero exit is reported and makes `acme renew` exit 1; the new certificate stays in place.
set -eu
echo "renewed ${RENEWED_DOMAINS:-?} in ${RENEWED_LINEAGE:-?}; reloading Postfix and Dovecot"
status=0
if command -v postfix >/dev/null 2>&1 && postfix status >/dev/null 2>&1; then
    postfix reload || status=1
fi
if command -v doveadm >/dev/null 2>&1 && doveadm service status >/dev/null 2>&1; then
    doveadm reload || status=1
fi
exit $status
