/*
 * quote.h: input echoed in an error message. Every error is one line (issue 15), so a value
 * from a file, a flag or a CSV is printed quoted, with control bytes, quotes and backslashes
 * escaped (\n, \t, \xNN) and cut to a few dozen characters ("..." marks the cut).
 */
#ifndef PB_QUOTE_H
#define PB_QUOTE_H

#include <stddef.h>

#define PB_QUOTE_VALUE 40  // characters of a value kept in a message
#define PB_QUOTE_PATH 160  // characters of a path kept in a message
#define PB_QUOTE_BUF 700   // room for any quoted text (4 bytes per kept character + quotes + "...")

// 'text' escaped and cut to max_chars input characters, into out (outlen >= 8); returns out.
const char *pb_quote(const char *text, size_t max_chars, char *out, size_t outlen);
// The same without the surrounding quotes (for paths at the head of a message).
const char *pb_escape(const char *text, size_t max_chars, char *out, size_t outlen);
// Replaces every control byte of a message (already formatted) by '?', so it is one line.
void pb_one_line(char *msg);

#endif
