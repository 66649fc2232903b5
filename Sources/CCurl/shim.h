#ifndef ACME_CCURL_SHIM_H
#define ACME_CCURL_SHIM_H
#include <curl/curl.h>
#endif
