/* The one place the version number lives. */
#ifndef ROOST_CORE_VERSION_H
#define ROOST_CORE_VERSION_H
#define ROOST_VERSION "0.1.0"
#endif
