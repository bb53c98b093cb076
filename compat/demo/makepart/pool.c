#include <string.h>
#include "mkpart.h"

/* A tiny bump allocator: enough for a demo, never freed. */
static char pool[4096];
static size_t used;

char *mk_pool_dup(const char *s)
{
	size_t n = strlen(s) + 1;
	if (used + n > sizeof pool)
		return (char *)"";
	char *r = memcpy(pool + used, s, n);
	used += n;
	return r;
}
