/* HTTP/1.x request parsing for samples/http_server (samples/http_parse.h). */
#include "http_parse.h"

#include <string.h>

/* ---- characters ---- */
static int is_tchar(unsigned char c) /* a token character (RFC 9110 5.6.2) */
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

static int ieq(const char *a, size_t alen, const char *b) /* a[0 .. alen) equals b, ignoring case */
{
    size_t n = strlen(b);
    if (alen != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* ---- the request head ---- */
/* The line at buf[at .. len): its end without CR/LF in *end and the start of the next line in *next.
 * Returns 0 if no LF follows yet, -1 if a CR stands anywhere but before the LF. */
static int next_line(const char *buf, size_t len, size_t at, size_t *end, size_t *next)
{
    const char *lf = memchr(buf + at, '\n', len - at);
    if (!lf)
        return 0;
    size_t e = (size_t)(lf - buf);
    *next = e + 1;
    if (e > at && buf[e - 1] == '\r')
        e--;
    if (memchr(buf + at, '\r', e - at))
        return -1;
    *end = e;
    return 1;
}

/* "Connection" tokens: close and keep-alive (comma-separated, any case). */
static void connection_tokens(const char *v, size_t n, int *close, int *keep)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (ieq(v + s, i - s, "close"))
            *close = 1;
        else if (ieq(v + s, i - s, "keep-alive"))
            *keep = 1;
    }
}

static int parse_request_line(const char *p, size_t n, http_request *r)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i > 32 || i >= n || p[i] != ' ')
        return HTTP_BAD_REQUEST;
    r->method = i == 3 && !memcmp(p, "GET", 3) ? HTTP_GET : i == 4 && !memcmp(p, "HEAD", 4) ? HTTP_HEAD : HTTP_OTHER;
    size_t t = ++i;
    while (i < n && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f)
        i++;
    if (i == t || i >= n || p[i] != ' ')
        return HTTP_BAD_REQUEST;
    r->target = p + t;
    r->target_len = i - t;
    const char *v = p + i + 1;
    size_t vn = n - i - 1;
    if (vn != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9')
        return HTTP_BAD_REQUEST;
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return HTTP_BAD_VERSION;
    r->minor = v[7] - '0';
    return 0;
}

/* A decimal number of up to 19 digits (no sign, no spaces): 0, or -1. */
static int parse_u64(const char *v, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19)
        return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return 0;
}

long http_parse_request(const char *buf, size_t len, size_t max_head, http_request *out)
{
    memset(out, 0, sizeof *out);
    size_t at = 0, end, next;
    /* Empty lines before the request line are skipped (RFC 9112 2.2). */
    for (;;) {
        int rc = next_line(buf, len, at, &end, &next);
        if (rc == 0)
            return len - at > max_head ? HTTP_TOO_LARGE : HTTP_INCOMPLETE;
        if (rc < 0)
            return HTTP_BAD_REQUEST;
        if (end > at)
            break;
        at = next;
        if (at > max_head)
            return HTTP_TOO_LARGE;
    }
    size_t start = at;
    int err = parse_request_line(buf + at, end - at, out);
    if (err)
        return err;
    int close = 0, keep = 0, hosts = 0, lengths = 0;
    for (at = next;;) {
        if (at - start > max_head)
            return HTTP_TOO_LARGE;
        int rc = next_line(buf, len, at, &end, &next);
        if (rc == 0)
            return len - start > max_head ? HTTP_TOO_LARGE : HTTP_INCOMPLETE;
        if (rc < 0)
            return HTTP_BAD_REQUEST;
        if (end == at)
            break; /* the empty line: the head ends */
        const char *p = buf + at;
        size_t n = end - at, c = 0;
        while (c < n && is_tchar((unsigned char)p[c]))
            c++;
        /* No name, whitespace before the colon, or a folded line (starting with whitespace): 400. */
        if (c == 0 || c >= n || p[c] != ':')
            return HTTP_BAD_REQUEST;
        size_t vs = c + 1, ve = n;
        while (vs < ve && (p[vs] == ' ' || p[vs] == '\t'))
            vs++;
        while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
            ve--;
        for (size_t i = vs; i < ve; i++) {
            unsigned char ch = (unsigned char)p[i];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                return HTTP_BAD_REQUEST; /* NUL and other controls */
        }
        const char *v = p + vs;
        size_t vn = ve - vs;
        if (ieq(p, c, "content-length")) {
            uint64_t cl;
            if (parse_u64(v, vn, &cl) != 0 || (lengths++ && cl != out->content_length))
                return HTTP_BAD_REQUEST;
            out->content_length = cl;
        } else if (ieq(p, c, "transfer-encoding")) {
            return HTTP_NOT_IMPLEMENTED;
        } else if (ieq(p, c, "connection")) {
            connection_tokens(v, vn, &close, &keep);
        } else if (ieq(p, c, "host")) {
            hosts++;
        } else if (ieq(p, c, "range")) {
            out->range = v;
            out->range_len = vn;
        } else if (ieq(p, c, "if-modified-since")) {
            out->if_modified_since = v;
            out->if_modified_since_len = vn;
        }
        at = next;
    }
    /* HTTP/1.1 needs exactly one Host (RFC 9112 3.2); HTTP/1.0 at most one. */
    if (hosts > 1 || (out->minor == 1 && hosts == 0))
        return HTTP_BAD_REQUEST;
    out->has_host = hosts == 1;
    out->keep_alive = out->minor == 1 ? !close : keep && !close;
    if (next - start > max_head)
        return HTTP_TOO_LARGE;
    return (long)next;
}

/* ---- the target as a path ---- */
int http_target_path(const char *t, size_t n, char *out, size_t cap)
{
    if (n >= 7 && ieq(t, 7, "http://"))
        t += 7, n -= 7;
    else if (n >= 8 && ieq(t, 8, "https://"))
        t += 8, n -= 8;
    else if (n == 0 || t[0] != '/')
        return -400; /* "*", or an authority form: not a file */
    if (t[0] != '/') { /* absolute form: skip the authority */
        const char *slash = memchr(t, '/', n);
        if (!slash) {
            t = "/";
            n = 1;
        } else {
            n -= (size_t)(slash - t);
            t = slash;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (t[i] == '?' || t[i] == '#') {
            n = i;
            break;
        }
    size_t o = 0, seg = 0; /* seg: where the current segment starts in out */
    for (size_t i = 0; i <= n; i++) {
        int c;
        if (i == n) {
            c = '/';
        } else if (t[i] == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)t[i + 1]) : -1, lo = hi >= 0 ? hexval((unsigned char)t[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -400;
            c = hi * 16 + lo;
            i += 2;
            if (c == '/')
                return -404; /* an encoded slash: a name no file has (and a way to hide ".." from a proxy) */
        } else {
            c = (unsigned char)t[i];
        }
        if (c == 0 || c < 0x20 || c == 0x7f || c == '\\' || c == ':')
            return -404; /* NUL, controls, and what Windows reads as a separator, drive or stream */
        if (c != '/') {
            if (o + 1 >= cap)
                return -414;
            out[o++] = (char)c;
            continue;
        }
        /* The end of a segment (out[seg .. o)): empty and "." vanish, ".." is refused. */
        size_t len = o - seg;
        if (len == 0 || (len == 1 && out[seg] == '.')) {
            o = seg;
        } else if (len == 2 && out[seg] == '.' && out[seg + 1] == '.') {
            return -404;
        } else if (i < n) {
            if (o + 1 >= cap)
                return -414;
            out[o++] = '/';
            seg = o;
        }
    }
    if (o > 0 && out[o - 1] == '/')
        o--;
    out[o] = '\0';
    return (int)o;
}

/* ---- Range ---- */
int http_parse_range(const char *v, size_t n, uint64_t size, uint64_t *first, uint64_t *last)
{
    if (n < 7 || !ieq(v, 6, "bytes=") || memchr(v, ',', n))
        return 0; /* another unit, or several ranges: the whole representation */
    v += 6;
    n -= 6;
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    const char *dash = memchr(v, '-', n);
    if (!dash)
        return 0;
    size_t a = (size_t)(dash - v), b = n - a - 1;
    uint64_t x, y;
    if (a == 0) { /* -N: the last N bytes */
        if (parse_u64(dash + 1, b, &y) != 0)
            return 0;
        if (y == 0 || size == 0)
            return -416;
        *first = y >= size ? 0 : size - y;
        *last = size - 1;
        return 1;
    }
    if (parse_u64(v, a, &x) != 0)
        return 0;
    if (b == 0) { /* N-: from N to the end */
        if (x >= size)
            return -416;
        *first = x;
        *last = size - 1;
        return 1;
    }
    if (parse_u64(dash + 1, b, &y) != 0 || y < x)
        return 0;
    if (x >= size)
        return -416;
    *first = x;
    *last = y < size ? y : size - 1;
    return 1;
}

/* ---- dates ---- */
static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const day_names[7] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"}; /* 1970-01-01 */

/* Days since 1970-01-01 of a date in the proleptic Gregorian calendar (month 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int num(const char *p, size_t n, int *out)
{
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        x = x * 10 + (p[i] - '0');
    }
    *out = x;
    return 0;
}

static int month_of(const char *p)
{
    for (int i = 0; i < 12; i++)
        if (!memcmp(p, month_names[i], 3))
            return i + 1;
    return 0;
}

static int64_t make_time(int y, int mon, int d, int hh, int mm, int ss)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mon < 1 || mon > 12 || d < 1 || d > mdays[mon - 1] + (mon == 2 && leap) || hh > 23 || mm > 59 || ss > 60 ||
        y < 1970 || y > 9999)
        return -1;
    return days_from_civil(y, mon, d) * 86400 + hh * 3600 + mm * 60 + ss;
}

static int parse_clock(const char *p, int *hh, int *mm, int *ss) /* "08:49:37" */
{
    if (p[2] != ':' || p[5] != ':')
        return -1;
    return num(p, 2, hh) || num(p + 3, 2, mm) || num(p + 6, 2, ss) ? -1 : 0;
}

int64_t http_parse_date(const char *v, size_t n)
{
    int y, mon, d, hh, mm, ss;
    if (n == 29 && v[3] == ',' && v[4] == ' ' && v[7] == ' ' && v[11] == ' ' && v[16] == ' ' && v[25] == ' ' &&
        !memcmp(v + 26, "GMT", 3)) { /* Sun, 06 Nov 1994 08:49:37 GMT */
        mon = month_of(v + 8);
        if (!mon || num(v + 5, 2, &d) || num(v + 12, 4, &y) || parse_clock(v + 17, &hh, &mm, &ss))
            return -1;
        return make_time(y, mon, d, hh, mm, ss);
    }
    if (n == 24 && v[3] == ' ' && v[7] == ' ' && v[10] == ' ' && v[19] == ' ') { /* Sun Nov  6 08:49:37 1994 */
        mon = month_of(v + 4);
        const char *dp = v[8] == ' ' ? v + 9 : v + 8;
        if (!mon || num(dp, (size_t)(v + 10 - dp), &d) || parse_clock(v + 11, &hh, &mm, &ss) || num(v + 20, 4, &y))
            return -1;
        return make_time(y, mon, d, hh, mm, ss);
    }
    const char *comma = memchr(v, ',', n < 12 ? n : 12); /* Sunday, 06-Nov-94 08:49:37 GMT */
    if (comma) {
        size_t rest = n - (size_t)(comma - v);
        const char *p = comma + 1;
        if (rest != 24 || p[0] != ' ' || p[3] != '-' || p[7] != '-' || p[10] != ' ' || memcmp(p + 19, " GMT", 4))
            return -1;
        int yy;
        mon = month_of(p + 4);
        if (!mon || num(p + 1, 2, &d) || num(p + 8, 2, &yy) || parse_clock(p + 11, &hh, &mm, &ss))
            return -1;
        y = yy < 70 ? 2000 + yy : 1900 + yy; /* two-digit years: 70-99 are 19xx, 00-69 are 20xx */
        return make_time(y, mon, d, hh, mm, ss);
    }
    return -1;
}

void http_format_date(int64_t t, char out[30])
{
    if (t < 0)
        t = 0;
    int64_t days = t / 86400, secs = t % 86400;
    /* civil_from_days */
    int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1), m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int64_t y = yoe + era * 400 + (m <= 2);
    const char *wd = day_names[days % 7];
    const char *mn = month_names[m - 1];
    int hh = (int)(secs / 3600), mi = (int)(secs / 60 % 60), ss = (int)(secs % 60);
    char *o = out;
    memcpy(o, wd, 3);
    o[3] = ',';
    o[4] = ' ';
    o[5] = (char)('0' + d / 10);
    o[6] = (char)('0' + d % 10);
    o[7] = ' ';
    memcpy(o + 8, mn, 3);
    o[11] = ' ';
    o[12] = (char)('0' + y / 1000 % 10);
    o[13] = (char)('0' + y / 100 % 10);
    o[14] = (char)('0' + y / 10 % 10);
    o[15] = (char)('0' + y % 10);
    o[16] = ' ';
    o[17] = (char)('0' + hh / 10);
    o[18] = (char)('0' + hh % 10);
    o[19] = ':';
    o[20] = (char)('0' + mi / 10);
    o[21] = (char)('0' + mi % 10);
    o[22] = ':';
    o[23] = (char)('0' + ss / 10);
    o[24] = (char)('0' + ss % 10);
    memcpy(o + 25, " GMT", 5); /* with the NUL */
}

/* ---- types ---- */
const char *http_mime_type(const char *name)
{
    static const char *const table[][2] = {
        {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},   {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"}, {"json", "application/json"},
        {"txt", "text/plain; charset=utf-8"}, {"md", "text/markdown; charset=utf-8"},
        {"csv", "text/csv; charset=utf-8"},   {"xml", "application/xml"},
        {"svg", "image/svg+xml"},             {"png", "image/png"},
        {"jpg", "image/jpeg"},                {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},                 {"webp", "image/webp"},
        {"ico", "image/x-icon"},              {"avif", "image/avif"},
        {"wasm", "application/wasm"},         {"pdf", "application/pdf"},
        {"zip", "application/zip"},           {"gz", "application/gzip"},
        {"tar", "application/x-tar"},         {"mp4", "video/mp4"},
        {"webm", "video/webm"},               {"mp3", "audio/mpeg"},
        {"ogg", "audio/ogg"},                 {"wav", "audio/wav"},
        {"woff", "font/woff"},                {"woff2", "font/woff2"},
        {"ttf", "font/ttf"},                  {"otf", "font/otf"},
    };
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) {
        size_t n = strlen(dot + 1);
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
            if (ieq(dot + 1, n, table[i][0]))
                return table[i][1];
    }
    return "application/octet-stream";
}
