#!/bin/sh
# Deploy hook: after a renewal, install the new certificate and reload Postfix and Dovecot.
# certbot:  certbot renew --deploy-hook /etc/letsencrypt/renewal-hooks/deploy/provision.sh
# (executables in renewal-hooks/deploy/ run after each renewal anyway.)
# RENEWED_LINEAGE is set by the renewing tool; acme provision finds the lineage by name itself.
set -eu
exec acme provision --quiet
