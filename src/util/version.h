#ifndef TERN_UTIL_VERSION_H
#define TERN_UTIL_VERSION_H

#define TERN_VERSION "0.1.0"

/* The Firecracker API specification tern follows (firecracker.yaml's
 * info.version, docs/api.md): what GET /version and `tern firecracker
 * --version` report to Firecracker's clients. */
#define TERN_FIRECRACKER_API_VERSION "1.17.0-dev"

#endif
