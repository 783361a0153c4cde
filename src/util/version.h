#ifndef TERN_UTIL_VERSION_H
#define TERN_UTIL_VERSION_H

#define TERN_VERSION "0.1.0"

#endif
