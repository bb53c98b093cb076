#ifndef STATS_H
#define STATS_H
#include <stddef.h>
long stats_sum(const int *v, size_t n);
double stats_mean(const int *v, size_t n);
#endif
