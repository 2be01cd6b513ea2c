/*
 * filter.c - include/exclude filters on keys, rclone-style globs matched against the whole
 * key: '*' matches any run without '/', '**' any run, '?' one character other than '/'.
 */
#include <string.h>

#include "migrate_int.h"

bool mig_glob_match(const char *pat, const char *s)
{
    while (*pat) {
        if (pat[0] == '*' && pat[1] == '*') {
            pat += 2;
            if (!*pat)
                return true;
            for (const char *t = s;; t++) {
                if (mig_glob_match(pat, t))
                    return true;
                if (!*t)
                    return false;
            }
        }
        if (*pat == '*') {
            pat++;
            for (const char *t = s;; t++) {
                if (mig_glob_match(pat, t))
                    return true;
                if (!*t || *t == '/')
                    return false;
            }
        }
        if (!*s || (*pat == '?' ? *s == '/' : *pat != *s))
            return false;
        pat++;
        s++;
    }
    return *s == '\0';
}

bool mig_filter_pass(const struct gz_mig_options *opt, const char *key)
{
    for (int i = 0; i < opt->n_exclude; i++)
        if (opt->exclude[i] && mig_glob_match(opt->exclude[i], key))
            return false;
    if (opt->n_include <= 0)
        return true;
    for (int i = 0; i < opt->n_include; i++)
        if (opt->include[i] && mig_glob_match(opt->include[i], key))
            return true;
    return false;
}
