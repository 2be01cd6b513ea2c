/*
 * uscc.c - the unified social credit code (统一社会信用代码), GB 32100-2015.
 *
 * 18 characters from the 31-character set "0123456789ABCDEFGHJKLMNPQRTUWXY" (I, O, S, V, Z
 * are not used), each worth its index in that set:
 *   1     registration authority code     2   organisation type code
 *   3-8   administrative division code of the registering authority (GB/T 2260, digits)
 *   9-17  the organisation code (GB 11714), whose own 9th character is a check character
 *   18    check character: C18 = 31 - (sum of value(Ci) * 3^(i-1) mod 31, i = 1..17) mod 31,
 *         with 31 written as 0 (ISO 7064 style, modulus 31).
 * GB 11714 weights its 8 body characters 3, 7, 9, 10, 5, 8, 4, 2, with digits worth their value
 * and letters A..Z worth 10..35 (the plain alphabet, not the 31-character set);
 * C9 = 11 - (sum mod 11), where 10 is written X and 11 is written 0.
 *
 * The authority and type codes are not checked against today's tables: new ones are assigned
 * by amendment (A and N were added in 2016), and the check characters already catch typos.
 */
#include <errno.h>
#include <stdio.h>

#include "iam_int.h"

static const char uscc_charset[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

static int uscc_value(char c)
{
    const char *p = c ? strchr(uscc_charset, c) : NULL;
    return p ? (int)(p - uscc_charset) : -1;
}

static char org_code_check(const char *body)
{
    static const int w[8] = {3, 7, 9, 10, 5, 8, 4, 2};
    int sum = 0;
    for (int i = 0; i < 8; i++) {
        char c = body[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c - 'A' + 10;
        sum += v * w[i];
    }
    int r = 11 - sum % 11;
    return r == 11 ? '0' : r == 10 ? 'X' : (char)('0' + r);
}

static char uscc_check(const char *code)
{
    int sum = 0, w = 1;
    for (int i = 0; i < 17; i++) {
        sum += uscc_value(code[i]) * w;
        w = w * 3 % 31;
    }
    return uscc_charset[(31 - sum % 31) % 31];
}

int iam_uscc_validate(const char *code, char *msg, size_t msgsz)
{
    size_t n = code ? strlen(code) : 0;
    if (n != IAM_USCC_LEN) {
        iam__msg(msg, msgsz, "a unified social credit code has 18 characters, not %zu", n);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (uscc_value(code[i]) < 0) {
            if (code[i] >= 'a' && code[i] <= 'z')
                iam__msg(msg, msgsz, "character %zu of the code ('%c') must be upper case", i + 1,
                         code[i]);
            else if (code[i] > ' ' && code[i] < 0x7f)
                iam__msg(msg, msgsz,
                         "character %zu of the code ('%c') is not allowed: only 0-9 and A-Y "
                         "without I, O, S, V are used",
                         i + 1, code[i]);
            else
                iam__msg(msg, msgsz,
                         "character %zu of the code is not allowed: only 0-9 and "
                         "A-Y without I, O, S, V are used",
                         i + 1);
            return -EINVAL;
        }
    }
    for (size_t i = 2; i < 8; i++) {
        if (code[i] < '0' || code[i] > '9') {
            iam__msg(msg, msgsz,
                     "characters 3-8 (the administrative division code) must be "
                     "digits; character %zu is '%c'",
                     i + 1, code[i]);
            return -EINVAL;
        }
    }
    char org = org_code_check(code + 8);
    if (code[16] != org) {
        iam__msg(msg, msgsz,
                 "the organisation code %.9s (characters 9-17) fails its GB 11714 "
                 "check: its check character is '%c', expected '%c'",
                 code + 8, code[16], org);
        return -EINVAL;
    }
    char check = uscc_check(code);
    if (code[17] != check) {
        iam__msg(msg, msgsz,
                 "the check character (character 18) is '%c', expected '%c': the "
                 "code is mistyped",
                 code[17], check);
        return -EINVAL;
    }
    return 0;
}
