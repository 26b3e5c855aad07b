/*
 * csv_out.h: the results file of a run (--out). Held under an exclusive advisory lock
 * (flock) from open to close, so a second bench on the same file is refused in one line
 * instead of interleaving rows. Every row is one write() of one whole line at the end of the
 * file; a failed or short write is cut back off (ftruncate), so the file stays whole rows, and
 * its reason (strerror) is returned. On --resume the file is checked first: an empty or
 * header-only fragment is rewritten, a torn last row (no newline: a kill mid-write by an
 * older version, a full disk) or an unparsable last row is moved to FILE.torn with a message
 * and its cell runs again; the header must be ours.
 */
#ifndef PB_CSV_OUT_H
#define PB_CSV_OUT_H

#include <stddef.h>
#include <stdio.h>

#include "results.h"

typedef struct CsvOut {
    int fd;                // -1 when closed
    const char *path;
    char shown[700];       // the path escaped for messages
} CsvOut;

// Opens (creating its folder) and locks path; fresh: truncates and writes the header;
// resume: checks the file as above and returns its rows (*rows, *n; results_rows_free them).
// Returns 0; 2 when the file is refused (locked, another header, an unparsable row before the
// last, cannot open); 1 when writing failed. err: one line.
int csv_out_open(CsvOut *o, const char *path, int resume, FILE *progress, ResultRow **rows, size_t *n,
                 char *err, size_t errlen);
// Appends the row as one write(). 0, or -1 with the reason in err (the file keeps whole rows).
int csv_out_append(CsvOut *o, const ResultRow *r, char *err, size_t errlen);
// Releases the lock and closes. 0 or -1 with err.
int csv_out_close(CsvOut *o, char *err, size_t errlen);

#endif
