/* rp_addr parsing and formatting, numeric only, independent of the platform's inet_pton. */
#include <stdio.h>

#include "core/internal.h"

static int parse_v4(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        size_t digits = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            v = v * 10u + (unsigned)(s[i] - '0');
            if (++digits > 3 || v > 255)
                return RP_EINVAL;
            i++;
        }
        if (digits == 0 || (digits > 1 && s[i - digits] == '0'))
            return RP_EINVAL;
        out[part] = (uint8_t)v;
        if (part < 3) {
            if (i >= n || s[i] != '.')
                return RP_EINVAL;
            i++;
        }
    }
    return i == n ? 0 : RP_EINVAL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_v6(const char *s, size_t n, uint8_t out[16])
{
    uint16_t words[8];
    int nwords = 0, gap = -1;
    size_t i = 0;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
        if (i == n)
            goto done;
    } else if (n >= 1 && s[0] == ':') {
        return RP_EINVAL;
    }
    while (i < n) {
        size_t start = i;
        unsigned v = 0;
        int digits = 0;
        while (i < n && hexval(s[i]) >= 0) {
            v = (v << 4) | (unsigned)hexval(s[i]);
            if (++digits > 4)
                return RP_EINVAL;
            i++;
        }
        if (i < n && s[i] == '.') { /* trailing dotted IPv4 */
            uint8_t v4[4];
            if (nwords > 6 || parse_v4(s + start, n - start, v4) != 0)
                return RP_EINVAL;
            words[nwords++] = (uint16_t)((v4[0] << 8) | v4[1]);
            words[nwords++] = (uint16_t)((v4[2] << 8) | v4[3]);
            i = n;
            break;
        }
        if (digits == 0 || nwords >= 8)
            return RP_EINVAL;
        words[nwords++] = (uint16_t)v;
        if (i == n)
            break;
        if (s[i] != ':')
            return RP_EINVAL;
        i++;
        if (i < n && s[i] == ':') {
            if (gap >= 0)
                return RP_EINVAL;
            gap = nwords;
            i++;
            if (i == n)
                break;
        } else if (i == n) {
            return RP_EINVAL;
        }
    }
done:
    if (gap < 0 && nwords != 8)
        return RP_EINVAL;
    if (gap >= 0 && nwords > 7)
        return RP_EINVAL;
    memset(out, 0, 16);
    int tail = gap < 0 ? 0 : nwords - gap;
    int head = gap < 0 ? nwords : gap;
    for (int k = 0; k < head; k++) {
        out[2 * k] = (uint8_t)(words[k] >> 8);
        out[2 * k + 1] = (uint8_t)words[k];
    }
    for (int k = 0; k < tail; k++) {
        int pos = 8 - tail + k;
        out[2 * pos] = (uint8_t)(words[head + k] >> 8);
        out[2 * pos + 1] = (uint8_t)words[head + k];
    }
    return 0;
}

static int parse_host(rp_addr *out, const char *host, size_t n, uint16_t port)
{
    rp_addr a;
    memset(&a, 0, sizeof a);
    a.port = port;
    if (parse_v4(host, n, a.ip) == 0) {
        a.family = RP_AF_INET;
        *out = a;
        return 0;
    }
    size_t len = n;
    const char *pct = memchr(host, '%', n);
    if (pct) {
        len = (size_t)(pct - host);
        unsigned long scope = 0;
        size_t k = len + 1;
        if (k == n)
            return RP_EINVAL;
        for (; k < n; k++) {
            if (host[k] < '0' || host[k] > '9')
                return RP_EINVAL;
            scope = scope * 10u + (unsigned long)(host[k] - '0');
            if (scope > 0xFFFFFFFFul)
                return RP_EINVAL;
        }
        a.scope_id = (uint32_t)scope;
    }
    if (parse_v6(host, len, a.ip) != 0)
        return RP_EINVAL;
    a.family = RP_AF_INET6;
    *out = a;
    return 0;
}

int rp_addr_parse(rp_addr *out, const char *host, uint16_t port)
{
    if (!out || !host)
        return RP_EINVAL;
    return parse_host(out, host, strlen(host), port);
}

int rp_addr_parse_endpoint(rp_addr *out, const char *ep)
{
    if (!out || !ep)
        return RP_EINVAL;
    size_t n = strlen(ep);
    const char *host, *portstr;
    size_t hostlen;
    if (n > 0 && ep[0] == '[') {
        const char *close = memchr(ep, ']', n);
        if (!close || close[1] != ':')
            return RP_EINVAL;
        host = ep + 1;
        hostlen = (size_t)(close - host);
        portstr = close + 2;
    } else {
        const char *colon = strrchr(ep, ':');
        if (!colon || memchr(ep, ':', (size_t)(colon - ep)))
            return RP_EINVAL; /* bare IPv6 needs brackets */
        host = ep;
        hostlen = (size_t)(colon - ep);
        portstr = colon + 1;
    }
    unsigned long port = 0;
    if (*portstr == '\0')
        return RP_EINVAL;
    for (const char *p = portstr; *p; p++) {
        if (*p < '0' || *p > '9')
            return RP_EINVAL;
        port = port * 10u + (unsigned long)(*p - '0');
        if (port > 65535)
            return RP_EINVAL;
    }
    if (hostlen == 0)
        return RP_EINVAL;
    return parse_host(out, host, hostlen, (uint16_t)port);
}

static size_t format_v6(const uint8_t ip[16], char *buf)
{
    uint16_t w[8];
    for (int k = 0; k < 8; k++)
        w[k] = (uint16_t)((ip[2 * k] << 8) | ip[2 * k + 1]);
    int best = -1, bestlen = 0;
    for (int k = 0; k < 8;) {
        if (w[k] != 0) { k++; continue; }
        int j = k;
        while (j < 8 && w[j] == 0) j++;
        if (j - k > bestlen && j - k >= 2) { best = k; bestlen = j - k; }
        k = j;
    }
    size_t n = 0;
    for (int k = 0; k < 8; k++) {
        if (k == best) {
            buf[n++] = ':';
            if (k == 0) buf[n++] = ':';
            k += bestlen - 1;
            continue;
        }
        n += (size_t)sprintf(buf + n, "%x", w[k]);
        if (k < 7) buf[n++] = ':';
    }
    buf[n] = '\0';
    return n;
}

int rp_addr_format(const rp_addr *a, char *buf, size_t size)
{
    char tmp[RP_ADDR_STRLEN];
    int n;
    if (!a || !buf)
        return RP_EINVAL;
    if (a->family == RP_AF_INET) {
        n = snprintf(tmp, sizeof tmp, "%u.%u.%u.%u:%u", a->ip[0], a->ip[1], a->ip[2], a->ip[3], a->port);
    } else if (a->family == RP_AF_INET6) {
        char v6[48];
        format_v6(a->ip, v6);
        if (a->scope_id)
            n = snprintf(tmp, sizeof tmp, "[%s%%%lu]:%u", v6, (unsigned long)a->scope_id, a->port);
        else
            n = snprintf(tmp, sizeof tmp, "[%s]:%u", v6, a->port);
    } else {
        return RP_EINVAL;
    }
    if (n < 0 || (size_t)n >= size)
        return RP_ENOBUFS;
    memcpy(buf, tmp, (size_t)n + 1);
    return n;
}
