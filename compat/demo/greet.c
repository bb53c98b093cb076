#include <stdio.h>
#include "greet.h"
#include "version.h"

void greet(const char *who)
{
	printf("hello, %s, from demo %s\n", who, DEMO_VERSION);
}
