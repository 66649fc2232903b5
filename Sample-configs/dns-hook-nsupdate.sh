#!/bin/sh
# DNS-01 hook for acme issue --dns-hook: publishes the challenge with RFC 2136 dynamic updates
# (BIND's nsupdate, Debian package bind9-dnsutils), authenticated with a TSIG key.
# acme issue --dns-rfc2136 SERVER --tsig-key FILE does the same built in (named-rfc2136.conf).
#
#   acme issue -d '*.example.com' -d example.com \
#        --dns-hook /usr/local/lib/acme/dns-hook-nsupdate.sh \
#        --dns-resolver ns1.example.com:53 --dns-propagation-wait 120
#
# On the primary server (BIND), allow the key to change only the challenge records, e.g.
#   update-policy { grant acme-key name _acme-challenge.example.com. TXT; };
# acme calls this script with ACME_ACTION=add|remove, ACME_DOMAIN, ACME_TXT_NAME
# (_acme-challenge.<domain>), ACME_VALIDATION (the TXT value), ACME_TOKEN and
# ACME_REMAINING_CHALLENGES. A wildcard and its base name share one TXT name with two
# values, so records are added and deleted by value.
set -eu

SERVER=${NSUPDATE_SERVER:-ns1.example.com}          # the zone's primary
KEYFILE=${NSUPDATE_KEY:-/etc/acme/tsig-acme.key}    # from: tsig-keygen -a hmac-sha256 acme-key
TTL=60

case "$ACME_ACTION" in
  add)    change="update add $ACME_TXT_NAME. $TTL IN TXT \"$ACME_VALIDATION\"" ;;
  remove) change="update delete $ACME_TXT_NAME. IN TXT \"$ACME_VALIDATION\"" ;;
  *) echo "unknown ACME_ACTION $ACME_ACTION" >&2; exit 2 ;;
esac

nsupdate -k "$KEYFILE" <<EOF_UPDATE
server $SERVER
$change
send
EOF_UPDATE
