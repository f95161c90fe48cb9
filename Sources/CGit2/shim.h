#ifndef GT_CGIT2_SHIM_H
#define GT_CGIT2_SHIM_H
#include <git2.h>
#include <git2/sys/refs.h>
#include <git2/sys/repository.h>
#endif
