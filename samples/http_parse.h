/* HTTP/1.x request parsing for samples/http_server: the request head (request line and header fields),
 * the request target turned into a safe relative path, Range and HTTP dates. Plain C11, no ringport: it
 * reads bytes and fills structures, so every malformed case is a unit test (tests/http_parse_test.cc).
 *
 * Strict where RFC 9110/9112 say a server must be (whitespace before a colon, obsolete line folding, bad
 * or conflicting Content-Length: 400), lenient where they allow it (a bare LF ends a line, leading empty
 * lines are skipped). */
#ifndef RP_SAMPLE_HTTP_PARSE_H
#define RP_SAMPLE_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* What http_parse_request answers besides a length. */
#define HTTP_INCOMPLETE 0         /* the head has not ended yet: read more */
#define HTTP_BAD_REQUEST (-400)   /* malformed */
#define HTTP_TOO_LARGE (-431)     /* the head is longer than the limit */
#define HTTP_NOT_IMPLEMENTED (-501) /* Transfer-Encoding (this server takes no request bodies that way) */
#define HTTP_BAD_VERSION (-505)   /* not HTTP/1.0 or HTTP/1.1 */

typedef enum http_method { HTTP_GET, HTTP_HEAD, HTTP_OTHER } http_method;

typedef struct http_request {
    http_method method;
    const char *target; /* into the parsed buffer: the request target as sent */
    size_t target_len;
    int minor;          /* HTTP/1.<minor> */
    int keep_alive;     /* after this response: HTTP/1.1 unless "Connection: close", HTTP/1.0 only with
                           "Connection: keep-alive" */
    uint64_t content_length; /* body bytes that follow the head (to skip) */
    const char *range;  /* the Range field's value, or NULL */
    size_t range_len;
    const char *if_modified_since; /* or NULL */
    size_t if_modified_since_len;
    int has_host;
} http_request;

/* Parses the request head at the start of buf[0 .. len). Returns its length (> 0: the body, if any, and the
 * next request follow), HTTP_INCOMPLETE, or a negative HTTP_* code. max_head: the longest head accepted
 * (HTTP_TOO_LARGE beyond it, as soon as it is certain). *out points into buf. */
long http_parse_request(const char *buf, size_t len, size_t max_head, http_request *out);

/* The request target as a path relative to the document root: percent-decoded, query and fragment cut
 * off, "." segments and repeated slashes removed, with no ".." segment and no NUL, backslash or control
 * byte. Origin form ("/a/b") and absolute form ("http://host/a/b") are accepted. Writes a NUL-terminated
 * path without a leading slash ("" for the root) to out. Returns its length, -400 (malformed: not a
 * path, a bad percent escape), -404 (a path that would leave the root or that no file can have), or
 * -414 (longer than cap - 1). */
int http_target_path(const char *target, size_t len, char *out, size_t cap);

/* A Range field's value against a representation of size bytes: 1 with [*first, *last] (inclusive) for a
 * single satisfiable range; 0 if the field is to be ignored (not "bytes=", several ranges, malformed:
 * the whole representation is sent); -416 if it is well-formed but not satisfiable. */
int http_parse_range(const char *v, size_t len, uint64_t size, uint64_t *first, uint64_t *last);

/* An HTTP date (IMF-fixdate, and the obsolete RFC 850 and asctime forms) as seconds since 1970, or -1. */
int64_t http_parse_date(const char *v, size_t len);

/* t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"): 29 characters and a NUL into out. */
void http_format_date(int64_t t, char out[30]);

/* The Content-Type for a file name, by its extension (application/octet-stream if unknown). */
const char *http_mime_type(const char *name);

#endif
