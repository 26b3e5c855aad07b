// quote.c: one-line echoes of untrusted text (see quote.h).
#include "quote.h"

#include <stdio.h>
#include <string.h>

static const char *escape(const char *text, size_t max_chars, int quoted, char *out, size_t outlen) {
    size_t o = 0;
    // worst case per kept character: 4 bytes (\xNN); keep room for "...", the quote and NUL
    size_t room = outlen > 8 ? outlen - 6 : 0;
    if (quoted && o < room) out[o++] = '\'';
    size_t i = 0;
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    for (; s[i] && i < max_chars; i++) {
        char e[5];
        unsigned char c = s[i];
        if (c == '\n') snprintf(e, sizeof e, "\\n");
        else if (c == '\r') snprintf(e, sizeof e, "\\r");
        else if (c == '\t') snprintf(e, sizeof e, "\\t");
        else if (c == '\\' || (quoted && c == '\'')) snprintf(e, sizeof e, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) snprintf(e, sizeof e, "\\x%02x", c);
        else { e[0] = (char)c; e[1] = '\0'; }
        size_t n = strlen(e);
        if (o + n > room) break;
        memcpy(out + o, e, n);
        o += n;
    }
    if (s[i]) { memcpy(out + o, "...", 3); o += 3; }
    if (quoted) out[o++] = '\'';
    out[o] = '\0';
    return out;
}

const char *pb_quote(const char *text, size_t max_chars, char *out, size_t outlen) {
    return escape(text, max_chars, 1, out, outlen);
}

const char *pb_escape(const char *text, size_t max_chars, char *out, size_t outlen) {
    return escape(text, max_chars, 0, out, outlen);
}

void pb_one_line(char *msg) {
    for (unsigned char *c = (unsigned char *)msg; *c; c++)
        if (*c < 0x20 || *c == 0x7f) *c = '?';
}
