/* file.c - small file helpers shared by the layers that write files. */
#include <errno.h>
#include <unistd.h>

#include "util.h"

int gz_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}
