#ifndef ACME_CPOSTGRES_SHIM_H
#define ACME_CPOSTGRES_SHIM_H
// libpq (PostgreSQL's client library) through Swift. Only FleetStore imports this module.
// libpq's API has no variadic functions or function-like macros that FleetStore needs, so this
// header only includes it; wrappers go here (prefix acme_pq_) when one is needed.
#include <libpq-fe.h>
#include <poll.h>

#endif
