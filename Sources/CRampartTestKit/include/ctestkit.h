/* posix_spawn file actions Swift's Glibc module leaves out (glibc declares them under _GNU_SOURCE). */
#ifndef RAMPART_CTESTKIT_H
#define RAMPART_CTESTKIT_H
#include <spawn.h>

int rampart_spawn_closefrom(posix_spawn_file_actions_t *actions, int from);
int rampart_spawn_chdir(posix_spawn_file_actions_t *actions, const char *path);
#endif
